#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/config.pb.h"
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
  EXPECT_THAT(
      message,
      HasSubstr("data.sentencepiece.source_model: source_model and target_model go together"));
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
  // Every config in configs/, as `fathom train` checks it before starting MPI.
  const std::filesystem::path dir = testing::SourceDir() + "/configs";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".pbtxt") continue;
    auto config = LoadRunConfig(entry.path().string());
    ASSERT_TRUE(config.ok()) << entry.path() << ": " << config.status();
    EXPECT_TRUE(ValidateTrainConfig(*config).ok())
        << entry.path() << ": " << ValidateTrainConfig(*config);
    ++checked;
  }
  EXPECT_GE(checked, 4);  // multi30k_admin, spider_dt_fixup(_2cpu), geoquery_dt_fixup
}

TEST(ConfigTest, TrainingNeedsAStopConditionAndDecodingItsOwnBudget) {
  proto::RunConfig config;
  ResolveDefaults(&config);
  const absl::Status status = ValidateTrainConfig(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("set max_steps, max_epochs or max_seconds"));
  config.mutable_optim()->set_max_seconds(60);
  EXPECT_TRUE(ValidateTrainConfig(config).ok());
  EXPECT_EQ(config.eval().decode_max_tokens(), 4096);
  EXPECT_EQ(config.data().batch().max_tokens(), 4096);
}

// Every field of RunConfig, at any depth, is read by code outside proto/ and tests/: a field
// that nothing reads is accepted and does nothing (distributed.backend once was one). A field
// counts as read where its accessor is called, `.name()`, `->name()` or `has_name()`. Common
// names (`name`, `source`) are matched by other messages' accessors too, so this cannot prove
// such a field is read; it does catch the distinctive ones.
void CollectFields(const google::protobuf::Descriptor* message, const std::string& prefix,
                   std::set<const google::protobuf::Descriptor*>* seen,
                   std::vector<std::pair<std::string, std::string>>* fields) {
  if (!seen->insert(message).second) return;
  for (int i = 0; i < message->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = message->field(i);
    fields->push_back({prefix + field->name(), field->name()});
    if (field->message_type() != nullptr) {
      CollectFields(field->message_type(), prefix + field->name() + ".", seen, fields);
    }
  }
}

TEST(ConfigTest, EveryFieldIsReadBySomething) {
  std::vector<std::pair<std::string, std::string>> fields;  // (path, name)
  std::set<const google::protobuf::Descriptor*> seen;
  CollectFields(proto::RunConfig::descriptor(), "", &seen, &fields);
  ASSERT_GT(fields.size(), 80u);
  // The code that may read a config: every .h/.cc of the repository but the schema's own
  // (proto/: defaults, validation, printing) and the tests.
  std::string code;
  namespace fs = std::filesystem;
  const fs::path root = testing::SourceDir();
  for (const char* folder : {"base", "bench", "comm", "data", "decode", "eval", "launch", "models",
                             "prepare", "checkpoint", "trainer"}) {
    if (!fs::exists(root / folder)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      const std::string extension = entry.path().extension().string();
      if (extension != ".cc" && extension != ".h") continue;
      std::ifstream in(entry.path());
      code.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  }
  ASSERT_GT(code.size(), 100000u) << "source files not found under " << root;
  std::vector<std::string> unread;
  for (const auto& [path, name] : fields) {
    const bool read = code.find("." + name + "()") != std::string::npos ||
                      code.find("->" + name + "()") != std::string::npos ||
                      code.find("has_" + name + "()") != std::string::npos;
    if (!read) unread.push_back(path);
  }
  EXPECT_TRUE(unread.empty()) << "config fields read by no code (wire them up or remove them): "
                              << ::testing::PrintToString(unread);
}

}  // namespace
}  // namespace fathom
