#include "checkpoint/posix_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fathom::checkpoint {
namespace {

absl::Status ErrnoError(const std::string& path, const char* what) {
  const int err = errno;
  const std::string message = absl::StrCat(path, ": ", what, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(message);
  if (err == ENOSPC || err == EFBIG || err == EDQUOT) return absl::ResourceExhaustedError(message);
  return absl::DataLossError(message);
}

}  // namespace

absl::StatusOr<PosixFile> PosixFile::Create(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError(path, "cannot create");
  return PosixFile(path, fd);
}

absl::StatusOr<PosixFile> PosixFile::OpenForReading(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, "cannot open");
  return PosixFile(path, fd);
}

PosixFile::PosixFile(PosixFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(std::exchange(other.fd_, -1)) {}

PosixFile::~PosixFile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status PosixFile::Write(const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(path_, "write failed");
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status PosixFile::ReadAt(uint64_t offset, void* data, size_t size) const {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::pread(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(path_, "read failed");
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrCat(path_, ": unexpected end of file at byte ", offset,
                                              " (", size, " bytes short)"));
    }
    p += n;
    offset += static_cast<uint64_t>(n);
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PosixFile::Size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoError(path_, "cannot stat");
  return static_cast<uint64_t>(st.st_size);
}

absl::Status PosixFile::Sync() {
  if (::fsync(fd_) != 0) return ErrnoError(path_, "fsync failed");
  return absl::OkStatus();
}

absl::Status PosixFile::Close() {
  const int fd = std::exchange(fd_, -1);
  if (fd < 0) return absl::OkStatus();
  // Delayed write errors (NFS, some full disks) are only reported here.
  if (::close(fd) != 0) return ErrnoError(path_, "close failed");
  return absl::OkStatus();
}

absl::Status SyncDir(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(path, "cannot open directory");
  const bool ok = ::fsync(fd) == 0;
  absl::Status status = ok ? absl::OkStatus() : ErrnoError(path, "fsync failed");
  ::close(fd);
  return status;
}

}  // namespace fathom::checkpoint
