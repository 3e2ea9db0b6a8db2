#include <string>

#include "gtest/gtest.h"
#include "gmock/gmock.h"
#include "proto/config_io.h"
#include "proto/config_validation.h"
#include "tests/test_util.h"

namespace fathom {
namespace {

using ::testing::HasSubstr;

TEST(ConfigTest, ParsesAndResolvesEveryDefault) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("run.pbtxt"), R"(
    run_dir: "runs/x"
    data { split { name: "train" source: "a.de" target: "a.en" } batch { max_tokens: 1024 } }
    model { encoder_layers: 18 }
  )");
  auto config = LoadRunConfig(dir.File("run.pbtxt"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->data().batch().max_tokens(), 1024);
  EXPECT_EQ(config->model().encoder_layers(), 18);
  // Defaults from the .proto are now explicit fields, so the printed config shows them.
  EXPECT_TRUE(config->data().batch().has_bucket_width());
  EXPECT_EQ(config->data().batch().bucket_width(), 8);
  EXPECT_TRUE(config->optim().has_lr());
  const std::string text = ConfigToText(*config);
  EXPECT_THAT(text, HasSubstr("decoder_layers: 6"));
  EXPECT_THAT(text, HasSubstr("vocab_size: 8000"));
  EXPECT_THAT(text, HasSubstr("apply_filter: true"));
  // The printed config parses back to the same message.
  proto::RunConfig reparsed;
  ASSERT_TRUE(ParseTextProto(text, "printed", &reparsed).ok());
  EXPECT_EQ(reparsed.SerializeAsString(), config->SerializeAsString());
}

TEST(ConfigTest, UnknownFieldNamesFileLineAndField) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("bad.pbtxt"), "seed: 3\nmodel {\n  d_modle: 512\n}\n");
  auto config = LoadRunConfig(dir.File("bad.pbtxt"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("bad.pbtxt:3:"));
  EXPECT_THAT(config.status().message(), HasSubstr("d_modle"));
}

TEST(ConfigTest, MalformedValueNamesLine) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("bad.pbtxt"), "seed: 3\nmodel { heads: \"eight\" }\n");
  auto config = LoadRunConfig(dir.File("bad.pbtxt"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("bad.pbtxt:2:"));
}

TEST(ConfigTest, BadEnumNamesLine) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("bad.pbtxt"), "init { method: ADMINN }\n");
  auto config = LoadRunConfig(dir.File("bad.pbtxt"));
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("bad.pbtxt:1:"));
  EXPECT_THAT(config.status().message(), HasSubstr("ADMINN"));
}

TEST(ConfigTest, OutOfRangeValuesNameTheirFields) {
  testing::TempDir dir;
  testing::WriteTextFile(dir.File("bad.pbtxt"), R"(
    data { split { name: "train" source: "a" target: "b" } batch { max_tokens: -5 } }
    model { d_model: 500 heads: 8 dropout: 1.5 }
    init { method: ADMIN admin_profile_batches: 0 }
  )");
  auto config = LoadRunConfig(dir.File("bad.pbtxt"));
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("bad.pbtxt"));
  EXPECT_THAT(message, HasSubstr("data.batch.max_tokens: must be > 0 (got -5)"));
  EXPECT_THAT(message, HasSubstr("model.heads: must divide model.d_model"));
  EXPECT_THAT(message, HasSubstr("model.dropout: must be in [0, 1)"));
  EXPECT_THAT(message, HasSubstr("init.admin_profile_batches: must be > 0 (got 0)"));
}

TEST(ConfigTest, DataSplitRules) {
  proto::RunConfig config;
  auto* data = config.mutable_data();
  auto* split = data->add_split();
  split->set_name("Train!");
  split->set_source("a");
  auto* dup = data->add_split();
  dup->set_name("valid");
  dup->set_source("a");
  dup->set_target("b");
  auto* dup2 = data->add_split();
  dup2->set_name("valid");
  dup2->set_source("a");
  dup2->set_target("b");
  data->mutable_sentencepiece()->set_source_model("x.model");
  data->mutable_sentencepiece()->set_eos_id(0);
  ResolveDefaults(&config);
  const absl::Status status = ValidateDataConfig(config.data());
  ASSERT_FALSE(status.ok());
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("data.split[0].name"));
  EXPECT_THAT(message, HasSubstr("data.split[0].target: required"));
  EXPECT_THAT(message, HasSubstr("data.split[2].name: \"valid\" is used by two splits"));
  EXPECT_THAT(message, HasSubstr("data.sentencepiece.source_model: source_model and target_model go together"));
  EXPECT_THAT(message, HasSubstr("data.sentencepiece.eos_id: id 0 is already used"));
}

TEST(ConfigTest, TextToSqlNeedsTables) {
  proto::RunConfig config;
  config.mutable_data()->set_task(proto::DataConfig::TEXT_TO_SQL);
  auto* split = config.mutable_data()->add_split();
  split->set_name("train");
  split->set_spider_json("train.json");
  ResolveDefaults(&config);
  const absl::Status status = ValidateDataConfig(config.data());
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("data.spider_tables: required"));
}

TEST(ConfigTest, ShippedConfigsAreValid) {
  const std::string source_dir = testing::SourceDir();
  for (const char* name : {"multi30k_admin.pbtxt", "spider_dt_fixup.pbtxt"}) {
    auto config = LoadRunConfig(source_dir + "/configs/" + name);
    EXPECT_TRUE(config.ok()) << name << ": " << config.status();
  }
}

}  // namespace
}  // namespace fathom
