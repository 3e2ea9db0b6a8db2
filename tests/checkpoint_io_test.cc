// Checkpoint files: bit-exact round trips, the on-disk layout, damage detection, choosing what
// to resume from, and pruning. The full-disk cases are in checkpoint_disk_full_test.cc.
#include "checkpoint/checkpoint_io.h"

#include <dlfcn.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "base/file_util.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/checkpoint_test_util.h"
#include "tests/test_util.h"

namespace fathom::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::fathom::testing::BitEqual;
using ::fathom::testing::EntriesContaining;
using ::fathom::testing::FlipByte;
using ::fathom::testing::ReadText;
using ::fathom::testing::TempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

NamedTensors VariedTensors() {
  torch::manual_seed(7);
  torch::Tensor f32 = torch::randn({3, 5});
  f32.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
  f32.view(-1)[1] = -0.0f;
  f32.view(-1)[2] = -std::numeric_limits<float>::infinity();
  const int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t kMax = std::numeric_limits<int64_t>::max();
  return {
      {"f32", f32},
      {"bf16", torch::randn({4, 7}).to(torch::kBFloat16)},
      {"i64", torch::tensor(std::vector<int64_t>{kMin, -1, 0, kMax})},
      {"bool", torch::rand({9}) > 0.5},
      {"u8", torch::arange(256, torch::kUInt8).view({16, 16})},
      {"empty", torch::empty({0, 3})},
      {"scalar", torch::scalar_tensor(3.5, torch::kFloat32)},
      {"f64", torch::randn({2, 2}, torch::kFloat64)},
      {"f16", torch::randn({3}).to(torch::kFloat16)},
      {"i32", torch::tensor(std::vector<int32_t>{-7, 1 << 30})},
      {"transposed", torch::arange(12, torch::kFloat32).view({3, 4}).t()},
  };
}

std::string StepDir(const std::string& run, const std::string& name) {
  return run + "/checkpoints/" + name;
}

int64_t LoadedStep(const absl::StatusOr<LoadedCheckpoint>& loaded) {
  return loaded.ok() ? loaded->meta.state().step() : -1;
}

const proto::TensorMeta& Entry(const proto::CheckpointMeta& meta, const std::string& name) {
  for (const auto& entry : meta.tensor()) {
    if (entry.name() == name) return entry;
  }
  throw std::runtime_error("no tensor " + name);
}

void WriteSmall(const std::string& run, int64_t step) {
  ASSERT_TRUE(
      WriteCheckpoint(run, step, {{"w", torch::full({5}, static_cast<float>(step))}}, {}).ok());
}

TEST(CheckpointIo, RoundTripIsBitExact) {
  TempDir temp;
  const NamedTensors tensors = VariedTensors();
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 12, tensors, {}).ok());
  EXPECT_EQ(ReadText(temp.path() + "/checkpoints/LATEST"), "00000012\n");
  EXPECT_THAT(EntriesContaining(temp.path() + "/checkpoints", ".partial-"), IsEmpty());

  absl::StatusOr<LoadedCheckpoint> loaded = ReadCheckpoint(StepDir(temp.path(), "00000012"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(loaded->tensors[i].first, tensors[i].first);
    EXPECT_TRUE(BitEqual(loaded->tensors[i].second, tensors[i].second)) << tensors[i].first;
  }
  EXPECT_EQ(loaded->tensors[6].second.dim(), 0);
  EXPECT_EQ(loaded->meta.format_version(), 1u);
  EXPECT_EQ(loaded->meta.state().step(), 12);
}

// The layout is documented in proto/checkpoint.proto so that other tools can read it: check it
// from the raw bytes rather than through ReadCheckpoint.
TEST(CheckpointIo, TensorsFileHoldsAlignedLittleEndianBytes) {
  TempDir temp;
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 3, VariedTensors(), {}).ok());
  const std::string dir = StepDir(temp.path(), "00000003");
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadCheckpoint(dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const proto::CheckpointMeta& meta = loaded->meta;
  const std::string bytes = ReadText(dir + "/tensors.bin");
  EXPECT_EQ(bytes.size(), meta.tensors_file_size());
  for (const auto& entry : meta.tensor()) EXPECT_EQ(entry.offset() % 64, 0u) << entry.name();

  const auto& u8 = Entry(meta, "u8");
  EXPECT_EQ(u8.dtype(), proto::TensorMeta::UINT8);
  EXPECT_THAT(u8.shape(), ElementsAre(16, 16));
  ASSERT_EQ(u8.size(), 256u);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(static_cast<unsigned char>(bytes[u8.offset() + i]), i);

  const auto& i64 = Entry(meta, "i64");
  EXPECT_EQ(i64.dtype(), proto::TensorMeta::INT64);
  EXPECT_EQ(bytes.substr(i64.offset() + 8, 8), std::string(8, '\xff'));            // -1
  EXPECT_EQ(bytes.substr(i64.offset(), 8), std::string("\0\0\0\0\0\0\0\x80", 8));  // INT64_MIN

  const auto& transposed = Entry(meta, "transposed");  // saved as its contiguous copy
  EXPECT_THAT(transposed.shape(), ElementsAre(4, 3));
  float second = 0;
  std::memcpy(&second, bytes.data() + transposed.offset() + 4, 4);
  EXPECT_EQ(second, 4.0f);

  EXPECT_EQ(Entry(meta, "bf16").dtype(), proto::TensorMeta::BFLOAT16);
  EXPECT_EQ(Entry(meta, "bool").dtype(), proto::TensorMeta::BOOL);
  EXPECT_EQ(Entry(meta, "empty").size(), 0u);
  EXPECT_THAT(Entry(meta, "scalar").shape(), IsEmpty());
  EXPECT_EQ(Entry(meta, "scalar").size(), 4u);
}

TEST(CheckpointIo, TrainingStateRoundTrips) {
  TempDir temp;
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 500, {}, testing::FullTrainingState()).ok());
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadCheckpoint(StepDir(temp.path(), "00000500"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  proto::TrainingState expected = testing::FullTrainingState();
  expected.set_step(500);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(loaded->meta.state(), expected))
      << loaded->meta.state().DebugString();
  EXPECT_TRUE(loaded->tensors.empty());

  ASSERT_TRUE(WriteCheckpoint(temp.path(), 600, {}, {}).ok());
  const absl::StatusOr<LoadedCheckpoint> bare = ReadCheckpoint(StepDir(temp.path(), "00000600"));
  ASSERT_TRUE(bare.ok()) << bare.status();
  EXPECT_FALSE(bare->meta.state().has_best_metric());
}

TEST(CheckpointIo, FlippedTensorByteNamesTheTensor) {
  TempDir temp;
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 1, VariedTensors(), {}).ok());
  const std::string dir = StepDir(temp.path(), "00000001");
  const uint64_t offset = Entry(ReadCheckpoint(dir)->meta, "bf16").offset();
  FlipByte(dir + "/tensors.bin", offset + 3);
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadCheckpoint(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(), HasSubstr(dir + "/tensors.bin: tensor \"bf16\""));
  EXPECT_THAT(loaded.status().message(), HasSubstr("CRC-32C mismatch"));
}

TEST(CheckpointIo, FlippedPaddingByteIsCaughtByTheFileChecksum) {
  TempDir temp;
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 1, VariedTensors(), {}).ok());
  const std::string dir = StepDir(temp.path(), "00000001");
  FlipByte(dir + "/tensors.bin", 61);  // "f32" is 60 bytes; "bf16" starts at 64
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadCheckpoint(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr(dir + "/tensors.bin: CRC-32C mismatch"));
}

TEST(CheckpointIo, DamagedMetaNamesMetaFile) {
  TempDir temp;
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 1, VariedTensors(), testing::FullTrainingState()).ok());
  const std::string dir = StepDir(temp.path(), "00000001");
  const std::string meta = ReadText(dir + "/meta.pb");
  // A byte of the config text: it still parses, so only meta.pb's own checksum can tell.
  FlipByte(dir + "/meta.pb", meta.find("layers"));
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadCheckpoint(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr(dir + "/meta.pb: CRC-32C mismatch"));

  fs::resize_file(dir + "/meta.pb", meta.size() - 2);
  EXPECT_THAT(ReadCheckpoint(dir).status().message(), HasSubstr(dir + "/meta.pb: no checksum"));
  fs::remove(dir + "/meta.pb");
  EXPECT_THAT(ReadCheckpoint(dir).status().message(), HasSubstr(dir + "/meta.pb: cannot open"));
}

TEST(CheckpointIo, TruncatedTensorsFileNamesTheFile) {
  TempDir temp;
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 1, VariedTensors(), {}).ok());
  const std::string dir = StepDir(temp.path(), "00000001");
  const std::string path = dir + "/tensors.bin";
  const uint64_t size = fs::file_size(path);
  fs::resize_file(path, size - 10);
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadCheckpoint(dir);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(loaded.status().message(),
              HasSubstr(path + ": " + std::to_string(size - 10) + " bytes, but meta.pb records " +
                        std::to_string(size)));
}

TEST(CheckpointIo, CorruptNewestFallsBackToOlder) {
  TempDir temp;
  WriteSmall(temp.path(), 100);
  WriteSmall(temp.path(), 200);
  FlipByte(StepDir(temp.path(), "00000200") + "/tensors.bin", 2);
  std::vector<std::string> skipped;
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadLatestValid(temp.path(), &skipped);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->dir, StepDir(temp.path(), "00000100"));
  EXPECT_EQ(LoadedStep(loaded), 100);
  EXPECT_TRUE(BitEqual(loaded->tensors[0].second, torch::full({5}, 100.0f)));
  ASSERT_THAT(skipped, SizeIs(1));
  EXPECT_THAT(skipped[0], HasSubstr("00000200/tensors.bin: tensor \"w\""));
}

TEST(CheckpointIo, MissingLatestTakesNewestValid) {
  TempDir temp;
  for (int64_t step : {100, 200, 300}) WriteSmall(temp.path(), step);
  fs::remove(temp.path() + "/checkpoints/LATEST");
  std::vector<std::string> skipped;
  EXPECT_EQ(LoadedStep(ReadLatestValid(temp.path(), &skipped)), 300);
  EXPECT_THAT(skipped, ElementsAre(HasSubstr("checkpoints/LATEST: missing")));

  // A crash before meta.pb was complete cannot happen (staging), but damage can.
  fs::resize_file(StepDir(temp.path(), "00000300") + "/meta.pb", 3);
  skipped.clear();
  EXPECT_EQ(LoadedStep(ReadLatestValid(temp.path(), &skipped)), 200);
  EXPECT_THAT(skipped, ElementsAre(HasSubstr("LATEST: missing"), HasSubstr("00000300/meta.pb")));
}

TEST(CheckpointIo, LatestWinsOverNewerCheckpoints) {
  TempDir temp;
  WriteSmall(temp.path(), 100);
  WriteSmall(temp.path(), 200);
  ASSERT_TRUE(WriteFileAtomic(temp.path() + "/checkpoints/LATEST", "00000100\n").ok());
  std::vector<std::string> skipped;
  EXPECT_EQ(LoadedStep(ReadLatestValid(temp.path(), &skipped)), 100);
  EXPECT_THAT(skipped, IsEmpty());
}

TEST(CheckpointIo, UnusableLatestFallsBackToNewest) {
  TempDir temp;
  WriteSmall(temp.path(), 100);
  WriteSmall(temp.path(), 200);
  ASSERT_TRUE(WriteFileAtomic(temp.path() + "/checkpoints/LATEST", "../../elsewhere\n").ok());
  std::vector<std::string> skipped;
  EXPECT_EQ(LoadedStep(ReadLatestValid(temp.path(), &skipped)), 200);
  EXPECT_THAT(skipped, ElementsAre(HasSubstr("LATEST: names \"../../elsewhere\"")));

  // LATEST naming a checkpoint that is gone.
  ASSERT_TRUE(WriteFileAtomic(temp.path() + "/checkpoints/LATEST", "00000300\n").ok());
  skipped.clear();
  EXPECT_EQ(LoadedStep(ReadLatestValid(temp.path(), &skipped)), 200);
  EXPECT_THAT(skipped, ElementsAre(HasSubstr("00000300/meta.pb: cannot open")));
}

TEST(CheckpointIo, NoValidCheckpointIsNotFound) {
  TempDir temp;
  std::vector<std::string> skipped;
  EXPECT_TRUE(absl::IsNotFound(ReadLatestValid(temp.path(), &skipped).status()));
  EXPECT_THAT(skipped, IsEmpty());

  WriteSmall(temp.path(), 100);
  FlipByte(StepDir(temp.path(), "00000100") + "/tensors.bin", 0);
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadLatestValid(temp.path(), &skipped);
  EXPECT_TRUE(absl::IsNotFound(loaded.status())) << loaded.status();
  EXPECT_THAT(skipped, SizeIs(1));
  EXPECT_TRUE(absl::IsNotFound(ReadLatestValid(temp.path(), nullptr).status()));
}

TEST(CheckpointIo, ListsOnlyCheckpointDirectories) {
  TempDir temp;
  const std::string dir = temp.path() + "/checkpoints";
  EXPECT_THAT(ListCheckpointSteps(temp.path()), IsEmpty());
  for (const char* name : {"00000005", "00000012", "5", "00000009.partial-abc123", "notes"}) {
    fs::create_directories(dir + "/" + name);
  }
  testing::WriteTextFile(dir + "/00000007", "a file, not a checkpoint");
  EXPECT_THAT(ListCheckpointSteps(temp.path()), ElementsAre(5, 12));
}

TEST(CheckpointIo, PruneKeepsLastKeepStepsAndLatest) {
  TempDir temp;
  for (int64_t step = 100; step <= 800; step += 100) WriteSmall(temp.path(), step);
  const std::string dir = temp.path() + "/checkpoints";
  ASSERT_TRUE(WriteFileAtomic(dir + "/LATEST", "00000300\n").ok());
  // What a crash leaves: a staging directory, a prune interrupted mid-delete, a LATEST temp file.
  fs::create_directories(dir + "/00000900.partial-abc123");
  testing::WriteTextFile(dir + "/00000900.partial-abc123/tensors.bin", "half");
  fs::create_directories(dir + "/00000050.partial-pruned");
  testing::WriteTextFile(dir + "/LATEST.tmp.4242", "00000900\n");

  ASSERT_TRUE(PruneCheckpoints(temp.path(), 2, {200}).ok());
  EXPECT_THAT(ListCheckpointSteps(temp.path()), ElementsAre(200, 300, 700, 800));
  EXPECT_THAT(EntriesContaining(dir, ".partial-"), IsEmpty());
  EXPECT_THAT(EntriesContaining(dir, "LATEST"), ElementsAre("LATEST"));
  std::vector<std::string> skipped;
  EXPECT_EQ(LoadedStep(ReadLatestValid(temp.path(), &skipped)), 300);
  EXPECT_THAT(skipped, IsEmpty());

  ASSERT_TRUE(PruneCheckpoints(temp.path(), 1, {}).ok());
  EXPECT_THAT(ListCheckpointSteps(temp.path()), ElementsAre(300, 800));
  EXPECT_TRUE(absl::IsInvalidArgument(PruneCheckpoints(temp.path(), 0, {})));
}

// The process's std::filesystem is libstdc++'s, not the incomplete copy a LibTorch 2.x wheel
// exports (its remove_all crashed the first prune of a CUDA run; see CMakeLists.txt).
TEST(CheckpointIo, StdFilesystemComesFromLibstdcxx) {
  using RemoveAll = std::uintmax_t (*)(const std::filesystem::path&, std::error_code&);
  const RemoveAll remove_all = &std::filesystem::remove_all;
  Dl_info info{};
  ASSERT_NE(dladdr(reinterpret_cast<void*>(remove_all), &info), 0);
  ASSERT_NE(info.dli_fname, nullptr);
  EXPECT_THAT(std::string(info.dli_fname), ::testing::HasSubstr("libstdc++"));
}

TEST(CheckpointIo, RemoveTreeRemovesNestedDirectoriesAndNotLinkTargets) {
  testing::TempDir dir;
  const std::string outside = dir.File("outside");
  testing::WriteTextFile(outside, "kept");
  ASSERT_TRUE(MakeDirs(dir.File("doomed/a/b")).ok());
  testing::WriteTextFile(dir.File("doomed/a/b/file"), "x");
  testing::WriteTextFile(dir.File("doomed/top"), "y");
  ASSERT_EQ(::symlink(outside.c_str(), dir.File("doomed/a/link").c_str()), 0);
  ASSERT_TRUE(RemoveTree(dir.File("doomed")).ok());
  EXPECT_FALSE(PathExists(dir.File("doomed")));
  EXPECT_TRUE(PathExists(outside)) << "a link is removed, not followed";
  EXPECT_TRUE(RemoveTree(dir.File("never-there")).ok());
}

TEST(CheckpointIo, PruneDeletesNothingWhenLatestIsUnreadable) {
  TempDir temp;
  for (int64_t step : {100, 200, 300}) WriteSmall(temp.path(), step);
  ASSERT_TRUE(WriteFileAtomic(temp.path() + "/checkpoints/LATEST", "garbage").ok());
  EXPECT_FALSE(PruneCheckpoints(temp.path(), 1, {}).ok());
  EXPECT_THAT(ListCheckpointSteps(temp.path()), ElementsAre(100, 200, 300));
}

TEST(CheckpointIo, RewritingAStepReplacesIt) {
  TempDir temp;
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 100, {{"w", torch::ones({3})}}, {}).ok());
  ASSERT_TRUE(WriteCheckpoint(temp.path(), 100, {{"w", torch::full({4}, 2.0f)}}, {}).ok());
  const absl::StatusOr<LoadedCheckpoint> loaded = ReadCheckpoint(StepDir(temp.path(), "00000100"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(BitEqual(loaded->tensors[0].second, torch::full({4}, 2.0f)));
  EXPECT_THAT(EntriesContaining(temp.path() + "/checkpoints", ".partial-"), IsEmpty());
}

TEST(CheckpointIo, RefusedWriteLeavesPreviousCheckpointAlone) {
  TempDir temp;
  WriteSmall(temp.path(), 100);
  const std::string dir = temp.path() + "/checkpoints";
  // Fails after "ok" has been written into the staging directory.
  absl::Status status = WriteCheckpoint(
      temp.path(), 200,
      {{"ok", torch::ones({1000})}, {"bad", torch::ones({2}, torch::kComplexFloat)}}, {});
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(status.message(), HasSubstr("00000200.partial-"));
  EXPECT_THAT(status.message(), HasSubstr("/tensors.bin: tensor \"bad\": dtype ComplexFloat"));

  status =
      WriteCheckpoint(temp.path(), 200, {{"w", torch::ones({1})}, {"w", torch::ones({1})}}, {});
  EXPECT_THAT(status.message(), HasSubstr("00000200: tensor \"w\" given twice"));
  EXPECT_TRUE(absl::IsInvalidArgument(WriteCheckpoint(temp.path(), -1, {}, {})));

  EXPECT_EQ(ReadText(dir + "/LATEST"), "00000100\n");
  EXPECT_THAT(ListCheckpointSteps(temp.path()), ElementsAre(100));
  EXPECT_THAT(EntriesContaining(dir, ".partial-"), IsEmpty());
  EXPECT_EQ(LoadedStep(ReadLatestValid(temp.path(), nullptr)), 100);
}

}  // namespace
}  // namespace fathom::checkpoint
