#include "prepare/prepare.h"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/file_util.h"
#include "data/shard_dataset.h"
#include "data/vocabulary.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/config_io.h"
#include "tests/test_util.h"

namespace fathom::prepare {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr int kSliceLines = 3000;

class PrepareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string m30k = testing::SharedDataDir() + "/translation/multi30k/";
    de_ = testing::ReadGzipLines(m30k + "train.de.gz", kSliceLines);
    en_ = testing::ReadGzipLines(m30k + "train.en.gz", kSliceLines);
    ASSERT_EQ(de_.size(), static_cast<size_t>(kSliceLines)) << "Multi30k missing under " << m30k;
    testing::WriteLines(dir_.File("train.de.gz"), de_);
    testing::WriteLines(dir_.File("train.en.gz"), en_);
    testing::WriteLines(dir_.File("valid.de"),
                        std::vector<std::string>(de_.begin(), de_.begin() + 100));
    testing::WriteLines(dir_.File("valid.en"),
                        std::vector<std::string>(en_.begin(), en_.begin() + 100));
  }

  proto::DataConfig TranslationConfig() {
    proto::DataConfig data;
    auto* train = data.add_split();
    train->set_name("train");
    train->set_source(dir_.File("train.de.gz"));
    train->set_target(dir_.File("train.en.gz"));
    auto* valid = data.add_split();
    valid->set_name("valid");
    valid->set_source(dir_.File("valid.de"));
    valid->set_target(dir_.File("valid.en"));
    data.set_prepared_dir(dir_.File("prepared"));
    data.mutable_sentencepiece()->set_vocab_size(1000);
    data.set_chunk_pairs(256);
    data.set_encode_threads(2);
    ResolveDefaults(&data);
    return data;
  }

  // Every leftover "prepared.partial-*" is a half-written output that should not exist.
  int PartialDirs() {
    int n = 0;
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
      if (entry.path().filename().string().find(".partial-") != std::string::npos) ++n;
    }
    return n;
  }

  testing::TempDir dir_;
  std::vector<std::string> de_, en_;
};

TEST_F(PrepareTest, ShardsHoldTheSentencePieceIdsOfEveryLine) {
  const proto::DataConfig data = TranslationConfig();
  auto report = RunPrepare(data, PrepareOptions{1, false, "seed: 1\n"});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->trained_vocabulary);
  ASSERT_EQ(report->splits.size(), 2u);

  proto::SentencePieceConfig spm = data.sentencepiece();
  auto vocab = data::Vocabulary::Load(dir_.File("prepared/spm.model"), spm);
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  EXPECT_EQ(vocab->size(), 1000);
  auto dataset = data::ShardDataset::Open(dir_.File("prepared"), "train");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  const auto& header = (*dataset)->header();
  EXPECT_EQ(header.filter().read(), kSliceLines);
  EXPECT_EQ(header.filter().kept(), (*dataset)->size());
  EXPECT_EQ(header.filter().read(), header.filter().kept() + header.filter().empty() +
                                        header.filter().too_long() + header.filter().bad_ratio());
  EXPECT_EQ(header.source_vocab().crc32c(), vocab->crc32c());
  EXPECT_EQ(header.source_vocab().pad_id(), 0);
  EXPECT_EQ(header.source_vocab().eos_id(), 3);
  EXPECT_EQ(header.token_bytes(), 2);
  // With no drops, example i is line i; compare ids with an independent encode of the line.
  ASSERT_EQ(header.filter().kept(), kSliceLines) << "the slice has no lines to filter";
  for (int i = 0; i < kSliceLines; i += 37) {
    std::vector<int> expected;
    vocab->Encode(de_[i], &expected);
    EXPECT_EQ((*dataset)->Source(i), expected) << "line " << i + 1;
    vocab->Encode(en_[i], &expected);
    EXPECT_EQ((*dataset)->Target(i), expected) << "line " << i + 1;
  }
  EXPECT_EQ(vocab->Decode((*dataset)->Target(5)), en_[5]);
  EXPECT_TRUE(PathExists(dir_.File("prepared/config.pbtxt")));
  EXPECT_EQ(PartialDirs(), 0);
}

TEST_F(PrepareTest, IdsEqualTheSpmEncodeCommandLine) {
  if (std::system("command -v spm_encode > /dev/null") != 0)
    GTEST_SKIP() << "spm_encode not installed";
  auto report = RunPrepare(TranslationConfig(), PrepareOptions{});
  ASSERT_TRUE(report.ok()) << report.status();
  testing::WriteLines(dir_.File("few.de"), std::vector<std::string>(de_.begin(), de_.begin() + 50));
  const std::string command =
      absl::StrCat("spm_encode --model=", dir_.File("prepared/spm.model"), " --output_format=id < ",
                   dir_.File("few.de"), " > ", dir_.File("few.ids"));
  ASSERT_EQ(std::system(command.c_str()), 0);
  auto text = ReadFileToString(dir_.File("few.ids"));
  ASSERT_TRUE(text.ok());
  std::vector<std::string> lines = absl::StrSplit(*text, '\n');
  auto dataset = data::ShardDataset::Open(dir_.File("prepared"), "train");
  ASSERT_TRUE(dataset.ok());
  for (int i = 0; i < 50; ++i) {
    std::vector<int> ids;
    for (absl::string_view piece : absl::StrSplit(lines[i], ' ', absl::SkipEmpty())) {
      ids.push_back(std::stoi(std::string(piece)));
    }
    EXPECT_EQ((*dataset)->Source(i), ids) << "line " << i + 1;
  }
}

TEST_F(PrepareTest, FiltersCountEachReason) {
  testing::WriteLines(
      dir_.File("f.de"),
      {"ein Hund", "", "eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf", "a",
       "Katze"});
  testing::WriteLines(dir_.File("f.en"), {"a dog", "empty source", "one two",
                                          "a b c d e f g h i j k l m n o p", "cat"});
  proto::DataConfig data = TranslationConfig();
  auto* split = data.add_split();
  split->set_name("filtered");
  split->set_source(dir_.File("f.de"));
  split->set_target(dir_.File("f.en"));
  split->set_apply_filter(true);
  data.mutable_filter()->set_max_length(40);
  data.mutable_filter()->set_max_length_ratio(2.5);
  ResolveDefaults(&data);
  auto report = RunPrepare(data, PrepareOptions{});
  ASSERT_TRUE(report.ok()) << report.status();
  const auto& counts = report->splits[2].counts;
  EXPECT_EQ(counts.read(), 5);
  EXPECT_EQ(counts.empty(), 1);
  EXPECT_GE(counts.bad_ratio(), 2);  // "eins ... zwölf" vs "one two", "a" vs 16 letters
  EXPECT_EQ(counts.kept(), 5 - counts.empty() - counts.bad_ratio() - counts.too_long());
  EXPECT_GE(counts.kept(), 2);

  // The same lines unfiltered keep everything.
  split->set_apply_filter(false);
  auto unfiltered = RunPrepare(data, PrepareOptions{1, true, ""});
  ASSERT_TRUE(unfiltered.ok()) << unfiltered.status();
  EXPECT_EQ(unfiltered->splits[2].counts.kept(), 5);
}

TEST_F(PrepareTest, ReusesAGivenModelAndTrainsPerSideModels) {
  auto first = RunPrepare(TranslationConfig(), PrepareOptions{});
  ASSERT_TRUE(first.ok()) << first.status();
  fs::copy_file(dir_.File("prepared/spm.model"), dir_.File("given.model"));

  proto::DataConfig reuse = TranslationConfig();
  reuse.set_prepared_dir(dir_.File("reused"));
  reuse.mutable_sentencepiece()->set_model(dir_.File("given.model"));
  auto second = RunPrepare(reuse, PrepareOptions{});
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->trained_vocabulary);
  auto a = data::ShardDataset::Open(dir_.File("prepared"), "train");
  auto b = data::ShardDataset::Open(dir_.File("reused"), "train");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->header().source_vocab().crc32c(), (*b)->header().source_vocab().crc32c());
  EXPECT_EQ((*a)->Source(10), (*b)->Source(10));

  proto::DataConfig per_side = TranslationConfig();
  per_side.set_prepared_dir(dir_.File("per_side"));
  per_side.mutable_sentencepiece()->set_joint(false);
  per_side.mutable_sentencepiece()->set_model_type(proto::SentencePieceConfig::BPE);
  per_side.mutable_sentencepiece()->set_vocab_size(600);
  auto third = RunPrepare(per_side, PrepareOptions{});
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_TRUE(PathExists(dir_.File("per_side/spm.src.model")));
  EXPECT_TRUE(PathExists(dir_.File("per_side/spm.tgt.model")));
  auto c = data::ShardDataset::Open(dir_.File("per_side"), "train");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->header().source_vocab().model_file(), "spm.src.model");
  EXPECT_NE((*c)->header().source_vocab().crc32c(), (*c)->header().target_vocab().crc32c());
  EXPECT_EQ((*c)->header().source_vocab().size(), 600);
}

TEST_F(PrepareTest, ModelWithOtherSpecialIdsIsRefused) {
  auto first = RunPrepare(TranslationConfig(), PrepareOptions{});
  ASSERT_TRUE(first.ok());
  proto::DataConfig reuse = TranslationConfig();
  reuse.set_prepared_dir(dir_.File("reused"));
  reuse.mutable_sentencepiece()->set_model(dir_.File("prepared/spm.model"));
  reuse.mutable_sentencepiece()->set_pad_id(1);
  reuse.mutable_sentencepiece()->set_unk_id(0);
  auto report = RunPrepare(reuse, PrepareOptions{});
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()),
              HasSubstr("spm.model: SentencePiece model has pad_id 0"));
}

TEST_F(PrepareTest, MismatchedLineCountsNameBothFilesAndCounts) {
  testing::WriteLines(dir_.File("short.en.gz"),
                      std::vector<std::string>(en_.begin(), en_.end() - 1));
  proto::DataConfig data = TranslationConfig();
  data.mutable_split(0)->set_target(dir_.File("short.en.gz"));
  auto report = RunPrepare(data, PrepareOptions{});
  ASSERT_FALSE(report.ok());
  const std::string message(report.status().message());
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat(dir_.File("train.de.gz"), " has ", kSliceLines, " lines")));
  EXPECT_THAT(message, HasSubstr(absl::StrCat(dir_.File("short.en.gz"), " has ", kSliceLines - 1)));
  EXPECT_FALSE(PathExists(dir_.File("prepared")));
  EXPECT_EQ(PartialDirs(), 0);
}

TEST_F(PrepareTest, InvalidUtf8NamesFileAndLineAndWritesNothing) {
  std::vector<std::string> bad = de_;
  bad[1234] = "kaputt \xc3\x28 hier";
  testing::WriteLines(dir_.File("bad.de.gz"), bad);
  proto::DataConfig data = TranslationConfig();
  data.mutable_split(0)->set_source(dir_.File("bad.de.gz"));
  auto report = RunPrepare(data, PrepareOptions{});
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("bad.de.gz:1235: invalid UTF-8"));
  EXPECT_FALSE(PathExists(dir_.File("prepared")));
  EXPECT_EQ(PartialDirs(), 0);
}

TEST_F(PrepareTest, MissingFileIsNamed) {
  proto::DataConfig data = TranslationConfig();
  data.mutable_split(1)->set_target(dir_.File("nope.en"));
  auto report = RunPrepare(data, PrepareOptions{});
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("nope.en: no such file"));
  EXPECT_FALSE(PathExists(dir_.File("prepared")));
}

TEST_F(PrepareTest, ExistingOutputIsKeptUnlessOverwriteIsAsked) {
  ASSERT_TRUE(RunPrepare(TranslationConfig(), PrepareOptions{}).ok());
  auto again = RunPrepare(TranslationConfig(), PrepareOptions{});
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(std::string(again.status().message()), HasSubstr("already exists"));
  EXPECT_TRUE(data::ShardDataset::Open(dir_.File("prepared"), "train").ok());
  EXPECT_EQ(PartialDirs(), 0);
  ASSERT_TRUE(RunPrepare(TranslationConfig(), PrepareOptions{1, true, ""}).ok());
  EXPECT_TRUE(data::ShardDataset::Open(dir_.File("prepared"), "train").ok());
  EXPECT_EQ(PartialDirs(), 0);
}

TEST_F(PrepareTest, TrailingSlashInPreparedDirWorksWithAndWithoutOverwrite) {
  proto::DataConfig data = TranslationConfig();
  data.set_prepared_dir(dir_.File("slashed/"));
  ASSERT_TRUE(RunPrepare(data, PrepareOptions{}).ok());
  auto again = RunPrepare(data, PrepareOptions{1, true, ""});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(data::ShardDataset::Open(dir_.File("slashed"), "train").ok());
  EXPECT_EQ(PartialDirs(), 0);
  for (const auto& entry : fs::directory_iterator(dir_.File("slashed"))) {
    EXPECT_EQ(entry.path().filename().string().find(".partial-"), std::string::npos)
        << entry.path();
  }
}

TEST_F(PrepareTest, ExistingOutputIsRefusedBeforeAnyWork) {
  ASSERT_TRUE(MakeDirs(dir_.File("prepared")).ok());
  proto::DataConfig data = TranslationConfig();
  data.mutable_split(0)->set_source(dir_.File("would_fail_later.de"));
  auto report = RunPrepare(data, PrepareOptions{});
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("already exists"));
}

TEST_F(PrepareTest, SpiderInputsCarryTheSchemaAndDbIds) {
  const std::string spider = testing::SharedDataDir() + "/spider/";
  proto::DataConfig data;
  data.set_task(proto::DataConfig::TEXT_TO_SQL);
  data.set_spider_tables(spider + "tables.json");
  auto* dev = data.add_split();
  dev->set_name("train");
  dev->set_spider_json(spider + "dev.json");
  dev->set_apply_filter(false);  // schema inputs are far longer than their SQL
  data.set_prepared_dir(dir_.File("spider"));
  data.mutable_sentencepiece()->set_vocab_size(1000);
  ResolveDefaults(&data);
  auto report = RunPrepare(data, PrepareOptions{});
  ASSERT_TRUE(report.ok()) << report.status();
  auto dataset = data::ShardDataset::Open(dir_.File("spider"), "train");
  ASSERT_TRUE(dataset.ok());
  const auto& header = (*dataset)->header();
  EXPECT_EQ((*dataset)->size(), 1034);
  ASSERT_EQ(header.db_id_size(), 1034);
  EXPECT_EQ(header.db_id(0), "concert_singer");
  EXPECT_TRUE(header.has_relations());  // contents: spider_relations_test
  auto vocab = data::Vocabulary::Load(dir_.File("spider/spm.model"), data.sentencepiece());
  ASSERT_TRUE(vocab.ok());
  const std::string input = vocab->Decode((*dataset)->Source(0));
  EXPECT_THAT(input, HasSubstr("How many singers do we have?"));
  EXPECT_THAT(input, HasSubstr("| concert_singer |"));
  EXPECT_THAT(input, HasSubstr("singer :"));
  EXPECT_THAT(vocab->Decode((*dataset)->Target(0)), HasSubstr("SELECT count(*) FROM singer"));
}

TEST_F(PrepareTest, SpiderUnknownDbIdIsNamed) {
  const std::string spider = testing::SharedDataDir() + "/spider/";
  testing::WriteTextFile(dir_.File("ex.json"),
                         R"([{"question": "q", "query": "SELECT 1", "db_id": "no_such_db"}])");
  proto::DataConfig data;
  data.set_task(proto::DataConfig::TEXT_TO_SQL);
  data.set_spider_tables(spider + "tables.json");
  auto* split = data.add_split();
  split->set_name("train");
  split->set_spider_json(dir_.File("ex.json"));
  data.set_prepared_dir(dir_.File("spider"));
  ResolveDefaults(&data);
  auto report = RunPrepare(data, PrepareOptions{});
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("no_such_db"));
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("ex.json"));
  EXPECT_FALSE(PathExists(dir_.File("spider")));
}

}  // namespace
}  // namespace fathom::prepare
