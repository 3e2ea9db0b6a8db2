#include "data/file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace fathom::data {

absl::Status MapFile(const std::string& path, const uint8_t** data, size_t* size) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0)
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return absl::DataLossError(absl::StrCat(path, ": cannot stat: ", std::strerror(errno)));
  }
  *size = static_cast<size_t>(st.st_size);
  *data = nullptr;
  if (*size > 0) {
    void* mapped = ::mmap(nullptr, *size, PROT_READ, MAP_SHARED, fd, 0);
    if (mapped == MAP_FAILED) {
      ::close(fd);
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": mmap failed: ", std::strerror(errno)));
    }
    *data = static_cast<const uint8_t*>(mapped);
  }
  ::close(fd);
  return absl::OkStatus();
}

std::string FlushSyncClose(std::FILE** file) {
  std::string error;
  if (std::fflush(*file) != 0) {
    error = absl::StrCat("flush failed: ", std::strerror(errno));
  } else if (::fsync(fileno(*file)) != 0) {
    error = absl::StrCat("fsync failed: ", std::strerror(errno));
  }
  if (std::fclose(*file) != 0 && error.empty())
    error = absl::StrCat("close failed: ", std::strerror(errno));
  *file = nullptr;
  return error;
}

}  // namespace fathom::data
