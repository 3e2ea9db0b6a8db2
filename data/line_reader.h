// Reads a text file line by line, plain or gzip (detected from the bytes, not the name), in
// large blocks. Each line is checked to be UTF-8; errors name file:line.
#ifndef FATHOM_DATA_LINE_READER_H_
#define FATHOM_DATA_LINE_READER_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fathom::data {

class LineReader {
 public:
  static absl::StatusOr<std::unique_ptr<LineReader>> Open(const std::string& path);
  // Standard input, read the same way (gzip too) and named "stdin" in errors. Reads a duplicate
  // of descriptor 0, which stays open.
  static absl::StatusOr<std::unique_ptr<LineReader>> OpenStdin();
  ~LineReader();

  // Reads the next line (without '\n' or a trailing '\r') into `line`. Returns false at end of
  // file or on error; check status() after the loop.
  bool Next(std::string* line);
  const absl::Status& status() const { return status_; }

  // What Next does with a line that is not UTF-8. By default it stops with an error naming
  // file:line and byte. After KeepGoingPastInvalidUtf8() it returns the line as an empty string
  // and reading goes on; line_error() then holds that error until the next call. For callers
  // that keep one output line per input line (`fathom translate --on_bad_line skip`).
  void KeepGoingPastInvalidUtf8() { keep_going_past_invalid_utf8_ = true; }
  // The error of the line Next last returned (OK when it was valid).
  const absl::Status& line_error() const { return line_error_; }
  // 1-based number of the line last returned.
  long line_number() const { return line_number_; }
  const std::string& path() const { return path_; }
  // For counting the rest of a file whose content no longer matters (line-count mismatches).
  void DisableUtf8Check() { check_utf8_ = false; }

  // A longer "line" means the file is not line-oriented text (CR-only endings, binary data);
  // failing beats buffering the whole file.
  static constexpr size_t kMaxLineBytes = 8 << 20;

 private:
  LineReader(std::string path, void* file);
  bool Refill();

  std::string path_;
  void* file_;  // gzFile
  std::string buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
  long line_number_ = 0;
  bool check_utf8_ = true;
  bool keep_going_past_invalid_utf8_ = false;
  absl::Status status_;
  absl::Status line_error_;
};

}  // namespace fathom::data

#endif  // FATHOM_DATA_LINE_READER_H_
