// A checkpoint write that runs out of space must leave the previous checkpoint and LATEST as
// they were. Two ways to run out: a 1 MiB tmpfs (ENOSPC; needs root, skipped otherwise) and
// RLIMIT_FSIZE with SIGXFSZ ignored (EFBIG; works for anyone).
#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <torch/torch.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint/checkpoint_io.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/checkpoint_test_util.h"
#include "tests/test_util.h"

namespace fathom::checkpoint {
namespace {

using ::fathom::testing::BitEqual;
using ::fathom::testing::EntriesContaining;
using ::fathom::testing::ReadText;
using ::fathom::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// 1 MiB of float32.
torch::Tensor Big() { return torch::arange(1 << 18, torch::kFloat32); }

// After a failed save of step 2 over a saved step 1: step 1 is what a resume finds, intact, and
// no staging directory is left taking space.
void ExpectOnlyStepOne(const std::string& run, const torch::Tensor& saved) {
  EXPECT_EQ(ReadText(run + "/checkpoints/LATEST"), "00000001\n");
  EXPECT_THAT(ListCheckpointSteps(run), ElementsAre(1));
  EXPECT_THAT(EntriesContaining(run + "/checkpoints", ".partial-"), IsEmpty());
  std::vector<std::string> skipped;
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadLatestValid(run, &skipped);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->meta.state().step(), 1);
  EXPECT_TRUE(BitEqual(loaded->tensors.at(0).second, saved));
  EXPECT_THAT(skipped, IsEmpty());
}

class CheckpointOnTmpfs : public ::testing::Test {
 protected:
  void SetUp() override {
    mount_point_ = temp_.File("tmpfs");
    std::filesystem::create_directory(mount_point_);
    if (::mount("tmpfs", mount_point_.c_str(), "tmpfs", 0, "size=1M") != 0) {
      GTEST_SKIP() << "cannot mount a 1 MiB tmpfs at " << mount_point_ << " ("
                   << std::strerror(errno) << "; needs root): the full-disk case is untested here";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) ::umount2(mount_point_.c_str(), MNT_DETACH);
  }

  TempDir temp_;
  std::string mount_point_;
  bool mounted_ = false;
};

TEST_F(CheckpointOnTmpfs, FullDiskLeavesPreviousCheckpointValid) {
  const std::string run = mount_point_ + "/run";
  const torch::Tensor small = torch::randn({64, 64});
  ASSERT_TRUE(WriteCheckpoint(run, 1, {{"w", small}}, {}).ok());

  const absl::Status status = WriteCheckpoint(run, 2, {{"w", small}, {"big", Big()}}, {});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("/checkpoints/00000002.partial-"));
  EXPECT_THAT(status.message(), HasSubstr("/tensors.bin: write failed: No space left on device"));
  ExpectOnlyStepOne(run, small);

  // The failed attempt's bytes were freed: a save that fits succeeds afterwards.
  EXPECT_TRUE(WriteCheckpoint(run, 2, {{"w", small}}, {}).ok());
  EXPECT_EQ(ReadText(run + "/checkpoints/LATEST"), "00000002\n");
}

TEST(CheckpointFileSizeLimit, TooLargeLeavesPreviousCheckpointValid) {
  TempDir temp;
  const std::string run = temp.File("run");
  const torch::Tensor small = torch::randn({16, 16});
  ASSERT_TRUE(WriteCheckpoint(run, 1, {{"w", small}}, {}).ok());

  // With SIGXFSZ ignored, a write past RLIMIT_FSIZE fails with EFBIG instead of killing us.
  struct sigaction ignore = {}, previous_action = {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &previous_action), 0);
  struct rlimit previous_limit = {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &previous_limit), 0);
  struct rlimit limit = previous_limit;
  limit.rlim_cur = 256 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  const absl::Status status = WriteCheckpoint(run, 2, {{"w", small}, {"big", Big()}}, {});
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &previous_limit), 0);
  ASSERT_EQ(::sigaction(SIGXFSZ, &previous_action, nullptr), 0);

  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("/tensors.bin: write failed: File too large"));
  ExpectOnlyStepOne(run, small);
}

}  // namespace
}  // namespace fathom::checkpoint
