// The one logger. Lines go to stderr (and optionally a file) as
//   [2026-11-24 10:00:00 rank 0 INFO] message
// Progress lines are printed by rank 0 only; warnings and errors by every rank, so a failure
// on rank 3 is seen with its rank.
#ifndef FATHOM_BASE_LOGGING_H_
#define FATHOM_BASE_LOGGING_H_

#include <sstream>
#include <string>

#include "absl/status/status.h"

namespace fathom {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// Process-wide sink settings, set once at start-up by the binary.
struct LogOptions {
  int rank = 0;
  LogLevel min_level = LogLevel::kInfo;
  bool info_on_all_ranks = false;  // by default only rank 0 prints INFO and DEBUG
};
void SetLogOptions(const LogOptions& options);
// Also appends every printed line to `path` (rank 0's train.log).
absl::Status SetLogFile(const std::string& path);
void CloseLogFile();

void LogLine(LogLevel level, const std::string& message);

// Collects one line and emits it on destruction.
class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { LogLine(level_, stream_.str()); }
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace fathom

#define FLOG(level) ::fathom::LogMessage(::fathom::LogLevel::k##level).stream()

#endif  // FATHOM_BASE_LOGGING_H_
