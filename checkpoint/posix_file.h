// A file descriptor whose every failure becomes an absl::Status naming the file and errno's text.
// Checkpoints use raw POSIX calls because a full disk must surface as an error from write() or
// fsync(), which iostreams would swallow, and tensors are read straight into their storage.
#ifndef FATHOM_CHECKPOINT_POSIX_FILE_H_
#define FATHOM_CHECKPOINT_POSIX_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fathom::checkpoint {

class PosixFile {
 public:
  // A new file (it must not exist), for writing.
  static absl::StatusOr<PosixFile> Create(const std::string& path);
  static absl::StatusOr<PosixFile> OpenForReading(const std::string& path);
  PosixFile(PosixFile&& other) noexcept;
  PosixFile& operator=(PosixFile&&) = delete;
  PosixFile(const PosixFile&) = delete;
  ~PosixFile();  // closes without reporting; call Close() to learn of errors

  const std::string& path() const { return path_; }
  absl::Status Write(const void* data, size_t size);
  // Reads exactly `size` bytes at `offset`; fewer (end of file) is an error.
  absl::Status ReadAt(uint64_t offset, void* data, size_t size) const;
  absl::StatusOr<uint64_t> Size() const;
  absl::Status Sync();
  absl::Status Close();

 private:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_ = -1;
};

// Makes a directory's entries (files created in it, renames into it) durable.
absl::Status SyncDir(const std::string& path);

}  // namespace fathom::checkpoint

#endif  // FATHOM_CHECKPOINT_POSIX_FILE_H_
