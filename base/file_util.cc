#include "base/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fathom {
namespace fs = std::filesystem;

namespace {
std::string ErrnoText() { return std::strerror(errno); }
}  // namespace

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", ErrnoText()));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return contents.str();
}

bool PathExists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

absl::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat(path, ": cannot create directory: ", ec.message()));
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  struct stat info;
  if (::lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot remove: ", ErrnoText()));
  }
  if (S_ISDIR(info.st_mode)) {
    DIR* dir = ::opendir(path.c_str());
    if (dir == nullptr)
      return absl::PermissionDeniedError(absl::StrCat(path, ": cannot list: ", ErrnoText()));
    std::vector<std::string> names;
    while (const dirent* entry = ::readdir(dir)) {
      const std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(dir);
    for (const std::string& name : names)
      RETURN_IF_ERROR(RemoveTree(absl::StrCat(path, "/", name)));
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
      return absl::PermissionDeniedError(absl::StrCat(path, ": cannot remove: ", ErrnoText()));
    }
    return absl::OkStatus();
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot remove: ", ErrnoText()));
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomic(const std::string& path, const std::string& contents) {
  const std::string temp = absl::StrCat(path, ".tmp.", getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return absl::PermissionDeniedError(absl::StrCat(temp, ": cannot create: ", ErrnoText()));
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      const std::string why = ErrnoText();
      ::close(fd);
      ::unlink(temp.c_str());
      return absl::DataLossError(absl::StrCat(temp, ": write failed: ", why));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const std::string why = ErrnoText();
    ::unlink(temp.c_str());
    return absl::DataLossError(absl::StrCat(temp, ": flush failed: ", why));
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string why = ErrnoText();
    ::unlink(temp.c_str());
    return absl::DataLossError(absl::StrCat("cannot rename ", temp, " to ", path, ": ", why));
  }
  return absl::OkStatus();
}

absl::StatusOr<StagingDir> StagingDir::Create(const std::string& path) {
  // "out/" and "out" name the same directory; without this the staging directory would be
  // created inside the final one.
  fs::path final_fs = fs::path(path).lexically_normal();
  if (!final_fs.has_filename()) final_fs = final_fs.parent_path();
  if (final_fs.empty() || final_fs.filename() == "." || final_fs.filename() == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", path, "\" is not a usable output directory name"));
  }
  const std::string final_path = final_fs.string();
  if (final_fs.has_parent_path()) RETURN_IF_ERROR(MakeDirs(final_fs.parent_path().string()));
  std::string pattern = absl::StrCat(final_path, ".partial-XXXXXX");
  if (::mkdtemp(pattern.data()) == nullptr) {
    return absl::PermissionDeniedError(
        absl::StrCat(final_path, ": cannot create a staging directory beside it: ", ErrnoText()));
  }
  // mkdtemp makes it 0700; the finished directory should read like any other output.
  ::chmod(pattern.c_str(), 0755);
  return StagingDir(final_path, pattern);
}

StagingDir::StagingDir(StagingDir&& other) noexcept
    : final_path_(std::move(other.final_path_)),
      temp_path_(std::move(other.temp_path_)),
      committed_(other.committed_) {
  other.committed_ = true;  // the moved-from object owns nothing
}

StagingDir::~StagingDir() {
  if (committed_) return;
  RemoveTree(temp_path_).IgnoreError();  // best effort: a leftover ".partial-" is pruned later
}

absl::Status StagingDir::Commit(bool replace) {
  std::error_code ec;
  std::string old_aside;
  if (fs::exists(final_path_, ec)) {
    if (!replace) {
      return absl::AlreadyExistsError(
          absl::StrCat(final_path_, " already exists (pass --overwrite to replace it)"));
    }
    old_aside = absl::StrCat(temp_path_, ".old");
    fs::rename(final_path_, old_aside, ec);
    if (ec)
      return absl::PermissionDeniedError(
          absl::StrCat("cannot move aside ", final_path_, ": ", ec.message()));
  }
  fs::rename(temp_path_, final_path_, ec);
  if (ec) {
    std::string message =
        absl::StrCat("cannot rename ", temp_path_, " to ", final_path_, ": ", ec.message());
    if (!old_aside.empty()) {
      std::error_code restore;
      fs::rename(old_aside, final_path_, restore);
      if (restore) absl::StrAppend(&message, "; the previous contents are kept in ", old_aside);
    }
    return absl::PermissionDeniedError(message);
  }
  committed_ = true;
  // The new contents are in place; what is left of the old ones is a named leftover.
  if (!old_aside.empty()) RemoveTree(old_aside).IgnoreError();
  return absl::OkStatus();
}

}  // namespace fathom
