// Raw references of prepared splits (SPLIT.ref.txt): one line per kept example, in shard order,
// so that example i's reference is the text its target ids were encoded from even where filters
// dropped lines; for Spider, the gold SQL.
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "data/shard_dataset.h"
#include "data/shard_format.h"
#include "data/shard_references.h"
#include "data/vocabulary.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "prepare/prepare.h"
#include "prepare/spider_reader.h"
#include "proto/config_io.h"
#include "tests/test_util.h"

namespace fathom::prepare {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

TEST(PrepareReferencesTest, FilteredExamplesAreSkippedInShardAndReferencesAlike) {
  testing::TempDir dir;
  const std::string m30k = testing::SharedDataDir() + "/translation/multi30k/";
  const std::vector<std::string> de = testing::ReadGzipLines(m30k + "train.de.gz", 400);
  const std::vector<std::string> en = testing::ReadGzipLines(m30k + "train.en.gz", 400);
  ASSERT_EQ(en.size(), 400u) << "Multi30k missing under " << m30k;
  testing::WriteLines(dir.File("train.de.gz"), de);
  testing::WriteLines(dir.File("train.en.gz"), en);
  // 30 real validation pairs with three that the filters drop, spread over several chunks.
  std::vector<std::string> valid_de(de.begin() + 300, de.begin() + 330);
  std::vector<std::string> valid_en(en.begin() + 300, en.begin() + 330);
  valid_de.insert(valid_de.begin() + 2, "Ein Hund.");
  valid_en.insert(valid_en.begin() + 2, "");  // empty target
  valid_de.insert(valid_de.begin() + 11, "Ein");
  valid_en.insert(valid_en.begin() + 11, en[0] + " " + en[1] + " " + en[2]);  // length ratio
  valid_de.insert(valid_de.begin() + 25, de[3]);
  valid_en.insert(valid_en.begin() + 25, "   ");  // blank target
  testing::WriteLines(dir.File("valid.de"), valid_de);
  testing::WriteLines(dir.File("valid.en.gz"), valid_en);

  proto::DataConfig data;
  for (const std::string name : {"train", "valid"}) {
    auto* split = data.add_split();
    split->set_name(name);
    split->set_source(dir.File(name == "train" ? "train.de.gz" : "valid.de"));
    split->set_target(dir.File(name == "train" ? "train.en.gz" : "valid.en.gz"));
  }
  data.set_prepared_dir(dir.File("prepared"));
  data.mutable_sentencepiece()->set_vocab_size(300);
  data.set_chunk_pairs(4);  // the second reader of the targets must stay in step across chunks
  data.set_encode_threads(2);
  ResolveDefaults(&data);
  auto report = RunPrepare(data, PrepareOptions{});
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->splits[1].counts.read(), 33);
  ASSERT_EQ(report->splits[1].counts.kept(), 30);

  const std::string prepared = dir.File("prepared");
  EXPECT_FALSE(PathExists(data::ShardReferencesFile(prepared, "train")))
      << "train keeps no references";
  auto valid = data::ShardDataset::Open(prepared, "valid");
  ASSERT_TRUE(valid.ok()) << valid.status();
  auto references = data::ReadShardReferences(prepared, **valid);
  ASSERT_TRUE(references.ok()) << references.status();
  // Exactly the surviving lines, in order: the original ones, without the three inserted.
  EXPECT_EQ(*references, std::vector<std::string>(en.begin() + 300, en.begin() + 330));
  auto vocab = data::Vocabulary::Load(prepared + "/spm.model", data.sentencepiece());
  ASSERT_TRUE(vocab.ok()) << vocab.status();
  for (int64_t i = 0; i < (*valid)->size(); ++i) {
    std::vector<int> ids;
    vocab->Encode((*references)[i], &ids);
    EXPECT_EQ((*valid)->Target(i), ids) << "example " << i;
  }
}

TEST(PrepareReferencesTest, SpiderReferencesAreTheGoldSqlOfKeptExamples) {
  testing::TempDir dir;
  const std::string spider = testing::SharedDataDir() + "/spider/";
  proto::DataConfig data;
  data.set_task(proto::DataConfig::TEXT_TO_SQL);
  data.set_spider_tables(spider + "tables.json");
  auto* train = data.add_split();
  train->set_name("train");
  train->set_spider_json(spider + "dev.json");
  train->set_apply_filter(false);
  auto* valid = data.add_split();
  valid->set_name("valid");
  valid->set_spider_json(spider + "dev.json");
  data.mutable_filter()->set_max_length(200);  // drops the questions on the largest schemas
  data.mutable_filter()->set_max_length_ratio(0);
  data.set_prepared_dir(dir.File("spider"));
  data.mutable_sentencepiece()->set_vocab_size(1000);
  ResolveDefaults(&data);
  auto report = RunPrepare(data, PrepareOptions{});
  ASSERT_TRUE(report.ok()) << report.status();
  const auto& counts = report->splits[1].counts;
  ASSERT_GT(counts.kept(), 100);
  ASSERT_LT(counts.kept(), counts.read());
  std::printf("Spider dev with max_length 200: %ld of %ld kept\n", static_cast<long>(counts.kept()),
              static_cast<long>(counts.read()));

  auto dataset = data::ShardDataset::Open(dir.File("spider"), "valid");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  auto references = data::ReadShardReferences(dir.File("spider"), **dataset);
  ASSERT_TRUE(references.ok()) << references.status();
  ASSERT_EQ(static_cast<int64_t>(references->size()), (*dataset)->size());
  auto schemas = LoadSpiderTables(spider + "tables.json");
  ASSERT_TRUE(schemas.ok());
  auto examples = LoadSpiderExamples(spider + "dev.json", *schemas);
  ASSERT_TRUE(examples.ok());
  auto vocab = data::Vocabulary::Load(dir.File("spider/spm.model"), data.sentencepiece());
  ASSERT_TRUE(vocab.ok());
  // The kept examples are a subsequence of dev.json: walk both in order.
  size_t next = 0;
  for (int64_t i = 0; i < (*dataset)->size(); ++i) {
    while (next < examples->size() && (*examples)[next].query != (*references)[i]) ++next;
    ASSERT_LT(next, examples->size()) << "reference " << i << " is not a later dev.json query";
    EXPECT_EQ((*dataset)->header().db_id(i), (*examples)[next].db_id) << "example " << i;
    std::vector<int> ids;
    vocab->Encode((*examples)[next].query, &ids);
    EXPECT_EQ((*dataset)->Target(i), ids) << "example " << i;
    ++next;
  }
}

TEST(PrepareReferencesTest, WriterKeepsOneExampleALine) {
  testing::TempDir dir;
  data::ShardReferenceWriter writer(dir.File("x.ref.txt"));
  writer.Add("SELECT a\tFROM t\nWHERE b = 1\r");
  writer.Add("two");
  ASSERT_TRUE(writer.Finish().ok());
  EXPECT_EQ(writer.size(), 2);
  EXPECT_EQ(*ReadFileToString(dir.File("x.ref.txt")), "SELECT a FROM t WHERE b = 1 \ntwo\n");
}

TEST(PrepareReferencesTest, MissingOrShortReferencesNameTheFile) {
  testing::TempDir dir;
  const std::string m30k = testing::SharedDataDir() + "/translation/multi30k/";
  testing::WriteLines(dir.File("v.de"), testing::ReadGzipLines(m30k + "val.de.gz", 50));
  testing::WriteLines(dir.File("v.en"), testing::ReadGzipLines(m30k + "val.en.gz", 50));
  proto::DataConfig data;
  for (const std::string name : {"train", "valid"}) {
    auto* split = data.add_split();
    split->set_name(name);
    split->set_source(dir.File("v.de"));
    split->set_target(dir.File("v.en"));
  }
  data.set_prepared_dir(dir.File("prepared"));
  data.mutable_sentencepiece()->set_vocab_size(200);
  ResolveDefaults(&data);
  ASSERT_TRUE(RunPrepare(data, PrepareOptions{}).ok());
  auto valid = data::ShardDataset::Open(dir.File("prepared"), "valid");
  ASSERT_TRUE(valid.ok());
  const std::string refs = data::ShardReferencesFile(dir.File("prepared"), "valid");
  auto text = ReadFileToString(refs);
  ASSERT_TRUE(text.ok());
  // One line short, as if truncated.
  testing::WriteTextFile(refs, text->substr(0, text->rfind('\n', text->size() - 2) + 1));
  EXPECT_THAT(Message(data::ReadShardReferences(dir.File("prepared"), **valid).status()),
              AllOf(HasSubstr(refs), HasSubstr("49 lines"), HasSubstr("50 examples")));
  std::filesystem::remove(refs);
  EXPECT_THAT(Message(data::ReadShardReferences(dir.File("prepared"), **valid).status()),
              AllOf(HasSubstr(refs), HasSubstr("no raw references"), HasSubstr("--overwrite")));
}

}  // namespace
}  // namespace fathom::prepare
