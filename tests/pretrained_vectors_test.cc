#include "data/pretrained_vectors.h"

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/config_io.h"
#include "tests/test_util.h"

namespace fathom::data {
namespace {

using ::testing::HasSubstr;

Vocabulary EnglishVocabulary() {
  std::vector<std::string> lines =
      testing::ReadGzipLines(testing::SharedDataDir() + "/translation/multi30k/train.en.gz", 5000);
  proto::SentencePieceConfig config;
  ResolveDefaults(&config);
  config.set_vocab_size(2000);
  auto vocab = Vocabulary::Train(lines, config, 2);
  EXPECT_TRUE(vocab.ok()) << vocab.status();
  return std::move(vocab).value();
}

TEST(PretrainedVectorsTest, GloveCoversWordPiecesWithTheirFileVectors) {
  const Vocabulary vocab = EnglishVocabulary();
  const std::string glove = testing::SharedDataDir() + "/embeddings/glove.6B.100d.top20000.txt.gz";
  auto table = LoadPretrainedVectors(glove, vocab);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->dim, 100);
  EXPECT_EQ(table->file_words, 20000);
  EXPECT_EQ(table->vocab_size, 2000);
  // Multi30k's frequent English words are nearly all among GloVe's top 20k.
  EXPECT_GT(table->coverage(), 0.5);
  EXPECT_LT(table->coverage(), 1.0);
  EXPECT_EQ(table->covered[vocab.pad_id()], 0);
  // "dog" is one piece in a Multi30k vocabulary; its row is GloVe's "dog" line.
  std::vector<int> ids;
  vocab.Encode("dog", &ids);
  ASSERT_EQ(ids.size(), 1u);
  ASSERT_TRUE(table->covered[ids[0]]);
  std::vector<float> expected;
  for (const std::string& line : testing::ReadGzipLines(glove, 20000)) {
    if (line.rfind("dog ", 0) != 0) continue;
    std::vector<std::string> fields = absl::StrSplit(line, ' ');
    for (size_t k = 1; k < fields.size(); ++k) expected.push_back(std::stof(fields[k]));
  }
  ASSERT_EQ(expected.size(), 100u);
  for (int k = 0; k < 100; ++k) EXPECT_FLOAT_EQ(table->values[ids[0] * 100 + k], expected[k]);
}

TEST(PretrainedVectorsTest, RaggedLineIsNamed) {
  const Vocabulary vocab = EnglishVocabulary();
  testing::TempDir dir;
  testing::WriteLines(dir.File("vectors.txt"), {"the 0.1 0.2 0.3", "dog 0.4 0.5", "cat 1 2 3"});
  auto table = LoadPretrainedVectors(dir.File("vectors.txt"), vocab);
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()),
              HasSubstr("vectors.txt:2: 2 values, earlier lines have 3"));
  testing::WriteLines(dir.File("bad.txt"), {"the 0.1 zero 0.3"});
  auto bad = LoadPretrainedVectors(dir.File("bad.txt"), vocab);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("bad.txt:1: bad number"));
  EXPECT_FALSE(LoadPretrainedVectors(dir.File("missing.txt"), vocab).ok());
}

}  // namespace
}  // namespace fathom::data
