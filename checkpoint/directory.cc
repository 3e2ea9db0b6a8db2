// ListCheckpointSteps and PruneCheckpoints: the bookkeeping of RUN/checkpoints.
#include <algorithm>
#include <filesystem>
#include <set>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "checkpoint/checkpoint_io.h"
#include "checkpoint/layout.h"

namespace fathom::checkpoint {
namespace fs = std::filesystem;

namespace {

// Leftovers of an interrupted write or prune: StagingDir's "NAME.partial-XXXXXX" (and its
// ".old"), this file's "NAME.partial-pruned", WriteFileAtomic's "LATEST.tmp.PID".
bool IsLeftover(const std::string& name) {
  return absl::StrContains(name, ".partial-") ||
         absl::StartsWith(name, absl::StrCat(kLatestFile, ".tmp."));
}

absl::Status Remove(const fs::path& path) { return RemoveTree(path.string()); }

// Renamed out of the checkpoint namespace first, so that a crash halfway through deleting leaves
// a leftover for the next prune rather than a damaged checkpoint for the next resume.
absl::Status RemoveCheckpoint(const fs::path& path) {
  const fs::path doomed = path.string() + ".partial-pruned";
  std::error_code ec;
  fs::rename(path, doomed, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat(path.string(), ": cannot remove: ", ec.message()));
  return Remove(doomed);
}

}  // namespace

std::vector<int64_t> ListCheckpointSteps(const std::string& run_dir) {
  std::vector<int64_t> steps;
  std::error_code ec;
  for (fs::directory_iterator it(CheckpointsDir(run_dir), ec), end; !ec && it != end;
       it.increment(ec)) {
    const std::optional<int64_t> step = ParseStepDirName(it->path().filename().string());
    std::error_code type_ec;
    if (step.has_value() && it->is_directory(type_ec)) steps.push_back(*step);
  }
  std::sort(steps.begin(), steps.end());
  return steps;
}

absl::Status PruneCheckpoints(const std::string& run_dir, int keep_last,
                              const std::vector<int64_t>& keep_steps) {
  const std::string checkpoints_dir = CheckpointsDir(run_dir);
  if (keep_last < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(checkpoints_dir, ": keep_last must be >= 1 (got ", keep_last, ")"));
  }
  std::error_code ec;
  if (!fs::is_directory(checkpoints_dir, ec)) return absl::OkStatus();

  std::set<int64_t> keep(keep_steps.begin(), keep_steps.end());
  // A LATEST that cannot be read might name any checkpoint, so then nothing is deleted; the next
  // WriteCheckpoint rewrites it.
  const absl::StatusOr<std::string> latest = ReadLatestName(run_dir);
  if (latest.ok()) {
    keep.insert(*ParseStepDirName(*latest));
  } else if (!absl::IsNotFound(latest.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat("not pruning checkpoints: ", latest.status().message()));
  }
  const std::vector<int64_t> steps = ListCheckpointSteps(run_dir);
  const size_t newest = steps.size() - std::min(steps.size(), static_cast<size_t>(keep_last));
  keep.insert(steps.begin() + newest, steps.end());

  absl::Status result;
  std::vector<fs::path> leftovers;
  for (fs::directory_iterator it(checkpoints_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (IsLeftover(it->path().filename().string())) leftovers.push_back(it->path());
  }
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat(checkpoints_dir, ": cannot list: ", ec.message()));
  }
  for (const fs::path& path : leftovers) result.Update(Remove(path));
  for (int64_t step : steps) {
    if (keep.count(step) > 0) continue;
    result.Update(RemoveCheckpoint(fs::path(checkpoints_dir) / StepDirName(step)));
  }
  return result;
}

}  // namespace fathom::checkpoint
