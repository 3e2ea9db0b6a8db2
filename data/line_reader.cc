#include "data/line_reader.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "data/utf8.h"

namespace fathom::data {
namespace {
constexpr size_t kBlockBytes = 1 << 20;
}  // namespace

absl::StatusOr<std::unique_ptr<LineReader>> LineReader::Open(const std::string& path) {
  // gzopen reads plain files transparently, so one code path serves both.
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  gzbuffer(file, 256 * 1024);
  return std::unique_ptr<LineReader>(new LineReader(path, file));
}

absl::StatusOr<std::unique_ptr<LineReader>> LineReader::OpenStdin() {
  // gzclose closes the descriptor it was given: give it a copy, so std::cin's stays usable.
  const int fd = dup(STDIN_FILENO);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("stdin: cannot open: ", std::strerror(errno)));
  }
  gzFile file = gzdopen(fd, "rb");
  if (file == nullptr) {
    close(fd);
    return absl::NotFoundError("stdin: cannot open for reading");
  }
  gzbuffer(file, 256 * 1024);
  return std::unique_ptr<LineReader>(new LineReader("stdin", file));
}

LineReader::LineReader(std::string path, void* file) : path_(std::move(path)), file_(file) {
  buffer_.resize(kBlockBytes);
}

LineReader::~LineReader() { gzclose(static_cast<gzFile>(file_)); }

bool LineReader::Refill() {
  // Keep the unfinished line, then read a block after it.
  const size_t rest = end_ - begin_;
  if (begin_ > 0 && rest > 0) std::memmove(buffer_.data(), buffer_.data() + begin_, rest);
  begin_ = 0;
  end_ = rest;
  if (rest > kMaxLineBytes) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat(path_, ":", line_number_ + 1, ": line longer than ", kMaxLineBytes >> 20,
                     " MiB: not line-aligned text (CR-only line endings?)"));
    return false;
  }
  if (buffer_.size() - end_ < kBlockBytes / 2) {
    buffer_.resize(buffer_.size() * 2);
  } else if (buffer_.size() > 4 * kBlockBytes && rest < kBlockBytes) {
    buffer_.resize(kBlockBytes);  // give back what one long line took
    buffer_.shrink_to_fit();
  }
  const int n = gzread(static_cast<gzFile>(file_), buffer_.data() + end_,
                       static_cast<unsigned>(buffer_.size() - end_));
  if (n < 0) {
    int code = 0;
    const char* message = gzerror(static_cast<gzFile>(file_), &code);
    status_ =
        absl::DataLossError(absl::StrCat(path_, ":", line_number_ + 1, ": read error: ", message));
    return false;
  }
  if (n == 0) eof_ = true;
  end_ += static_cast<size_t>(n);
  return true;
}

bool LineReader::Next(std::string* line) {
  if (!status_.ok()) return false;
  while (true) {
    const char* start = buffer_.data() + begin_;
    const void* newline = std::memchr(start, '\n', end_ - begin_);
    size_t length;
    size_t consumed;
    if (newline != nullptr) {
      length = static_cast<const char*>(newline) - start;
      consumed = length + 1;
    } else if (eof_) {
      if (begin_ == end_) return false;
      length = end_ - begin_;  // last line without '\n'
      consumed = length;
    } else {
      if (!Refill()) return false;
      continue;
    }
    ++line_number_;
    size_t kept = length;
    if (kept > 0 && start[kept - 1] == '\r') --kept;
    // A UTF-8 byte-order mark (files saved on Windows) is not part of the first sentence.
    if (line_number_ == 1 && kept >= 3 && std::memcmp(start, "\xEF\xBB\xBF", 3) == 0) {
      start += 3;
      kept -= 3;
    }
    line_error_ = absl::OkStatus();
    const long bad = check_utf8_ ? FindInvalidUtf8(start, kept) : -1;
    if (bad >= 0) {
      absl::Status error = absl::InvalidArgumentError(absl::StrCat(
          path_, ":", line_number_, ": invalid UTF-8 at byte ", bad + 1, " of the line"));
      if (!keep_going_past_invalid_utf8_) {
        status_ = std::move(error);
        return false;
      }
      line_error_ = std::move(error);
      kept = 0;  // the caller gets an empty line in its place
    }
    line->assign(start, kept);
    begin_ += consumed;
    return true;
  }
}

}  // namespace fathom::data
