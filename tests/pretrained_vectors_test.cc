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

// SentencePiece is loaded with dlopen(RTLD_DEEPBIND) (data/spm_bridge.h), which AddressSanitizer
// refuses; in the sanitizer build (tests/fuzz) the tests that need a model skip.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSentencePieceLoads = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSentencePieceLoads = false;
#else
constexpr bool kSentencePieceLoads = true;
#endif
#else
constexpr bool kSentencePieceLoads = true;
#endif

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
  if (!kSentencePieceLoads) GTEST_SKIP() << "no SentencePiece under AddressSanitizer";
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
  if (!kSentencePieceLoads) GTEST_SKIP() << "no SentencePiece under AddressSanitizer";
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

// The vocabulary as its pieces: what the overload taking a Vocabulary reads from SentencePiece,
// which a sanitizer build cannot load (spm_bridge.h), so these run there too.
const std::vector<std::string> kPieces = {"<pad>",     "<unk>",     "<s>", "</s>",
                                          "\u2581the", "\u2581Dog", "s",   "\u2581"};
const std::vector<int> kSpecial = {0, 1, 2, 3};

TEST(PretrainedVectorsTest, PiecesCoverWordStartsOnly) {
  testing::TempDir dir;
  testing::WriteLines(dir.File("v.txt"), {"the 1 2", "dog 3 4", "s 5 6", "<pad> 7 8"});
  auto table = LoadPretrainedVectors(dir.File("v.txt"), kPieces, kSpecial);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->dim, 2);
  EXPECT_EQ(table->file_words, 4);
  EXPECT_EQ(table->covered, (std::vector<uint8_t>{0, 0, 0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(table->values[5 * 2 + 1], 4.0f);  // "\u2581Dog" has "dog"'s row
}

// A first line of very many values made a [vocab x dim] table of that width: with a 32k
// vocabulary, one 8 MiB line of "0 0 0 ..." asked for 512 GB. It is refused at line 1.
TEST(PretrainedVectorsTest, TooWideVectorsAreRefusedBeforeTheTable) {
  testing::TempDir dir;
  std::string line = "the";
  for (int64_t k = 0; k <= kMaxPretrainedDim; ++k) line += " 0";
  testing::WriteLines(dir.File("wide.txt"), {line});
  auto table = LoadPretrainedVectors(dir.File("wide.txt"), kPieces, kSpecial);
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()),
              HasSubstr("wide.txt:1: 65537 values; word vectors have at most 65536"));
}

}  // namespace
}  // namespace fathom::data
