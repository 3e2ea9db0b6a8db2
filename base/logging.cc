#include "base/logging.h"

#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace fathom {
namespace {

struct Sink {
  std::mutex mu;
  LogOptions options;
  std::FILE* file = nullptr;
};

Sink& GetSink() {
  static Sink* sink = new Sink();
  return *sink;
}

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarning:
      return "WARNING";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

}  // namespace

void SetLogOptions(const LogOptions& options) {
  Sink& sink = GetSink();
  std::lock_guard<std::mutex> lock(sink.mu);
  sink.options = options;
}

absl::Status SetLogFile(const std::string& path) {
  Sink& sink = GetSink();
  std::lock_guard<std::mutex> lock(sink.mu);
  if (sink.file != nullptr) std::fclose(sink.file);
  sink.file = std::fopen(path.c_str(), "a");
  if (sink.file == nullptr)
    return absl::UnavailableError(absl::StrCat("cannot open log file ", path));
  return absl::OkStatus();
}

void CloseLogFile() {
  Sink& sink = GetSink();
  std::lock_guard<std::mutex> lock(sink.mu);
  if (sink.file != nullptr) std::fclose(sink.file);
  sink.file = nullptr;
}

void LogLine(LogLevel level, const std::string& message) {
  Sink& sink = GetSink();
  std::lock_guard<std::mutex> lock(sink.mu);
  if (level < sink.options.min_level) return;
  if (level < LogLevel::kWarning && sink.options.rank != 0 && !sink.options.info_on_all_ranks) {
    return;
  }
  const std::string line =
      absl::StrCat("[", absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::Now(), absl::LocalTimeZone()),
                   " rank ", sink.options.rank, " ", LevelName(level), "] ", message, "\n");
  std::fputs(line.c_str(), stderr);
  if (sink.file != nullptr) {
    std::fputs(line.c_str(), sink.file);
    std::fflush(sink.file);
  }
}

}  // namespace fathom
