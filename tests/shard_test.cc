#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/shard_dataset.h"
#include "data/shard_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prepare/shard_writer.h"
#include "tests/test_util.h"

namespace fathom::data {
namespace {

using ::testing::HasSubstr;

struct Example {
  std::vector<int> source, target;
};

std::vector<Example> RandomExamples(int n, int max_id, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Example> examples(n);
  for (auto& e : examples) {
    e.source.resize(rng() % 40);
    e.target.resize(rng() % 40);
    for (int& id : e.source) id = 4 + static_cast<int>(rng() % (max_id - 4));
    for (int& id : e.target) id = 4 + static_cast<int>(rng() % (max_id - 4));
  }
  return examples;
}

void WriteShard(const std::string& dir, const std::vector<Example>& examples, int token_bytes) {
  auto writer = prepare::ShardWriter::Create(dir, "train", token_bytes);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (const auto& e : examples) ASSERT_TRUE((*writer)->Add(e.source, e.target).ok());
  proto::ShardHeader header;
  header.add_db_id("only_for_the_test");
  ASSERT_TRUE((*writer)->Finish(header).ok());
}

class ShardRoundTrip : public ::testing::TestWithParam<int> {};

TEST_P(ShardRoundTrip, ReadsBackWhatWasWritten) {
  const int token_bytes = GetParam();
  testing::TempDir dir;
  const auto examples = RandomExamples(500, token_bytes == 2 ? 65536 : 200000, 7);
  WriteShard(dir.path(), examples, token_bytes);
  auto dataset = ShardDataset::Open(dir.path(), "train");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ((*dataset)->size(), 500);
  int64_t src_tokens = 0;
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ((*dataset)->Source(i), examples[i].source) << i;
    EXPECT_EQ((*dataset)->Target(i), examples[i].target) << i;
    src_tokens += examples[i].source.size();
  }
  const auto& header = (*dataset)->header();
  EXPECT_EQ(header.num_source_tokens(), src_tokens);
  EXPECT_EQ(header.token_bytes(), token_bytes);
  EXPECT_EQ(header.db_id(0), "only_for_the_test");
  int64_t histogram_total = 0;
  for (int64_t c : header.source_lengths().count()) histogram_total += c;
  EXPECT_EQ(histogram_total, 500);
}

INSTANTIATE_TEST_SUITE_P(TokenWidths, ShardRoundTrip, ::testing::Values(2, 4));

TEST(ShardDatasetTest, TruncatedTokensFileIsNamed) {
  testing::TempDir dir;
  WriteShard(dir.path(), RandomExamples(50, 1000, 1), 2);
  const std::string tokens = ShardTokensFile(dir.path(), "train");
  std::filesystem::resize_file(tokens, std::filesystem::file_size(tokens) - 2);
  auto dataset = ShardDataset::Open(dir.path(), "train");
  ASSERT_FALSE(dataset.ok());
  EXPECT_THAT(std::string(dataset.status().message()), HasSubstr("train.tokens"));
  EXPECT_THAT(std::string(dataset.status().message()), HasSubstr("truncated"));
}

TEST(ShardDatasetTest, CorruptIndexIsNamed) {
  testing::TempDir dir;
  WriteShard(dir.path(), RandomExamples(50, 1000, 1), 2);
  const std::string index = ShardIndexFile(dir.path(), "train");
  {
    std::fstream f(index, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(8 * 10);
    const uint64_t garbage = 1ull << 40;
    f.write(reinterpret_cast<const char*>(&garbage), 8);
  }
  auto dataset = ShardDataset::Open(dir.path(), "train");
  ASSERT_FALSE(dataset.ok());
  EXPECT_THAT(std::string(dataset.status().message()), HasSubstr("train.index"));
}

TEST(ShardDatasetTest, HugeExampleCountInHeaderIsRefusedNotRead) {
  testing::TempDir dir;
  WriteShard(dir.path(), RandomExamples(5, 1000, 1), 2);
  const std::string header_path = ShardHeaderFile(dir.path(), "train");
  proto::ShardHeader header;
  std::ifstream in(header_path, std::ios::binary);
  ASSERT_TRUE(header.ParseFromIstream(&in));
  // (2n + 1) * 8 wraps around to a small number for this n.
  header.set_num_examples(int64_t{1} << 62);
  testing::WriteTextFile(header_path, header.SerializeAsString());
  auto dataset = ShardDataset::Open(dir.path(), "train");
  ASSERT_FALSE(dataset.ok());
  EXPECT_THAT(std::string(dataset.status().message()), HasSubstr("train.index"));
}

TEST(ShardDatasetTest, NotAHeaderIsNamed) {
  testing::TempDir dir;
  WriteShard(dir.path(), RandomExamples(5, 1000, 1), 2);
  testing::WriteTextFile(ShardHeaderFile(dir.path(), "train"), "this is not a header");
  auto dataset = ShardDataset::Open(dir.path(), "train");
  ASSERT_FALSE(dataset.ok());
  EXPECT_THAT(std::string(dataset.status().message()), HasSubstr("train.header"));
}

TEST(ShardDatasetTest, MissingSplitIsNamed) {
  testing::TempDir dir;
  auto dataset = ShardDataset::Open(dir.path(), "valid");
  ASSERT_FALSE(dataset.ok());
  EXPECT_THAT(std::string(dataset.status().message()), HasSubstr("valid.header"));
}

TEST(MakeBatchTest, PadsAndAddsSpecialTokens) {
  testing::TempDir dir;
  std::vector<Example> examples = {{{10, 11, 12}, {20}}, {{13}, {21, 22, 23, 24}}};
  WriteShard(dir.path(), examples, 2);
  auto dataset = ShardDataset::Open(dir.path(), "train");
  ASSERT_TRUE(dataset.ok());
  BatchPlan plan;
  plan.examples = {1, 0};
  const Batch batch = MakeBatch(**dataset, plan, SpecialIds{0, 2, 3});
  EXPECT_EQ(batch.size, 2);
  EXPECT_EQ(batch.source_length, 4);
  EXPECT_EQ(batch.target_length, 5);
  EXPECT_EQ(batch.source, (std::vector<int32_t>{13, 3, 0, 0, 10, 11, 12, 3}));
  EXPECT_EQ(batch.target_input, (std::vector<int32_t>{2, 21, 22, 23, 24, 2, 20, 0, 0, 0}));
  EXPECT_EQ(batch.target_output, (std::vector<int32_t>{21, 22, 23, 24, 3, 20, 3, 0, 0, 0}));
  EXPECT_EQ(batch.source_lengths, (std::vector<int32_t>{2, 4}));
  EXPECT_EQ(batch.target_lengths, (std::vector<int32_t>{5, 2}));
  EXPECT_EQ(batch.target_tokens(), 7);
}

}  // namespace
}  // namespace fathom::data
