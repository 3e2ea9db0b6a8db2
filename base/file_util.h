// Small file helpers whose errors name the path. Outputs are written under a temporary name
// and renamed into place, so a failed run never leaves a half-written file behind.
#ifndef FATHOM_BASE_FILE_UTIL_H_
#define FATHOM_BASE_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fathom {

absl::StatusOr<std::string> ReadFileToString(const std::string& path);
bool PathExists(const std::string& path);
absl::Status MakeDirs(const std::string& path);

// Removes `path` and, if it is a directory, everything under it (symbolic links are removed, not
// followed). A missing path is not an error; a failure names the path it failed on. POSIX calls
// rather than std::filesystem::remove_all: LibTorch 2.x wheels export an incomplete copy of
// std::filesystem that a link can bind to (see the top-level CMakeLists.txt).
absl::Status RemoveTree(const std::string& path);

// Writes `contents` to `path.tmp.PID`, fsyncs, then renames over `path`.
absl::Status WriteFileAtomic(const std::string& path, const std::string& contents);

// A directory that is built under a temporary name next to `final_path` and only renamed to
// `final_path` by Commit(). Destroyed uncommitted, it deletes what it holds.
class StagingDir {
 public:
  static absl::StatusOr<StagingDir> Create(const std::string& path);
  StagingDir(StagingDir&& other) noexcept;
  StagingDir& operator=(StagingDir&&) = delete;
  StagingDir(const StagingDir&) = delete;
  ~StagingDir();

  const std::string& path() const { return temp_path_; }
  std::string File(const std::string& name) const { return temp_path_ + "/" + name; }
  // Renames into place. With `replace`, an existing final directory is swapped out and removed
  // only after the new one is in place.
  absl::Status Commit(bool replace);

 private:
  StagingDir(std::string final_path, std::string temp_path)
      : final_path_(std::move(final_path)), temp_path_(std::move(temp_path)) {}
  std::string final_path_;
  std::string temp_path_;
  bool committed_ = false;
};

}  // namespace fathom

#endif  // FATHOM_BASE_FILE_UTIL_H_
