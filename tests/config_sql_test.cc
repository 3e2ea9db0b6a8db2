// The config rules of text-to-SQL: a split reads Spider or text2sql-data (GeoQuery, ATIS), never
// both; eval.best_metric EXACT_MATCH is for TEXT_TO_SQL with a Spider valid split only, and the
// refusal names the field.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/config.pb.h"
#include "proto/config_io.h"
#include "proto/config_validation.h"

namespace fathom {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

proto::RunConfig TextToSql() {
  proto::RunConfig config;
  config.mutable_data()->set_task(proto::DataConfig::TEXT_TO_SQL);
  config.mutable_data()->set_spider_tables("tables.json");
  auto* train = config.mutable_data()->add_split();
  train->set_name("train");
  train->set_spider_json("train.json");
  auto* valid = config.mutable_data()->add_split();
  valid->set_name("valid");
  valid->set_spider_json("dev.json");
  config.mutable_eval()->set_best_metric(proto::EvalConfig::EXACT_MATCH);
  return config;
}

std::string Problems(proto::RunConfig config) {
  ResolveDefaults(&config);
  return std::string(ValidateRunConfig(config).message());
}

TEST(ConfigSqlTest, ExactMatchIsForSpiderValidSplitsOnly) {
  EXPECT_EQ(Problems(TextToSql()), "");

  proto::RunConfig translation;
  auto* split = translation.mutable_data()->add_split();
  split->set_name("train");
  split->set_source("a.de");
  split->set_target("a.en");
  translation.mutable_eval()->set_best_metric(proto::EvalConfig::EXACT_MATCH);
  EXPECT_THAT(Problems(translation), AllOf(HasSubstr("eval.best_metric: EXACT_MATCH"),
                                           HasSubstr("TEXT_TO_SQL"), HasSubstr("TRANSLATION")));

  proto::RunConfig geo = TextToSql();
  auto* valid = geo.mutable_data()->mutable_split(1);
  valid->clear_spider_json();
  valid->set_text2sql_json("geography.json");
  valid->set_text2sql_split("dev");
  EXPECT_THAT(Problems(geo),
              AllOf(HasSubstr("eval.best_metric: EXACT_MATCH"), HasSubstr("sql-eval --db_sql")));
  geo.mutable_eval()->set_best_metric(proto::EvalConfig::LOSS);
  EXPECT_EQ(Problems(geo), "") << "a GeoQuery valid split selects by loss or BLEU";
}

TEST(ConfigSqlTest, SplitsReadSpiderOrText2SqlData) {
  proto::RunConfig both = TextToSql();
  both.mutable_data()->mutable_split(0)->set_text2sql_json("geography.json");
  EXPECT_THAT(Problems(both),
              HasSubstr("data.split[0].spider_json: task TEXT_TO_SQL needs one of"));

  proto::RunConfig neither = TextToSql();
  neither.mutable_data()->mutable_split(0)->clear_spider_json();
  EXPECT_THAT(Problems(neither), HasSubstr("data.split[0].spider_json"));

  // GeoQuery alone needs no tables.json; its schema CSV is optional.
  proto::RunConfig geo;
  geo.mutable_data()->set_task(proto::DataConfig::TEXT_TO_SQL);
  auto* train = geo.mutable_data()->add_split();
  train->set_name("train");
  train->set_text2sql_json("geography.json");
  EXPECT_EQ(Problems(geo), "");
  train->set_spider_json("x.json");
  train->clear_text2sql_json();
  EXPECT_THAT(Problems(geo), HasSubstr("data.spider_tables: required"));

  proto::RunConfig translation;
  auto* split = translation.mutable_data()->add_split();
  split->set_name("train");
  split->set_source("a.de");
  split->set_target("a.en");
  split->set_text2sql_split("dev");
  split->set_text2sql_json("geography.json");
  const std::string problems = Problems(translation);
  EXPECT_THAT(problems, AllOf(HasSubstr("data.split[0].text2sql_json: only for task TEXT_TO_SQL"),
                              Not(HasSubstr("text2sql_split"))));
  split->clear_text2sql_json();
  EXPECT_THAT(Problems(translation), HasSubstr("data.split[0].text2sql_split: only with"));
}

}  // namespace
}  // namespace fathom
