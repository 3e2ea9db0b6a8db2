// Every expected score of ../shared/data/bleu/sacrebleu_vectors.json (taken from sacreBLEU
// 2.6.0's own test suite and README) must come out of fathom_bleu to the precision it is
// printed with there.
#include "eval/bleu/bleu.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "eval/bleu/chrf.h"
#include "eval/bleu/score_files.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace fathom::eval {
namespace {

using nlohmann::json;

json LoadVectors() {
  const std::string path = testing::SharedDataDir() + "/bleu/sacrebleu_vectors.json";
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

const json& Vectors() {
  static const json* vectors = new json(LoadVectors());
  return *vectors;
}

std::string Fixed(double x, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, x);
  return buffer;
}

// Decimals an expected value is written with (48.530827 -> 6, 77.65 -> 2).
int Decimals(double expected) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.12g", expected);
  const char* dot = std::strchr(buffer, '.');
  return dot == nullptr ? 0 : static_cast<int>(std::strlen(dot + 1));
}

// Equal to the printed precision: within half a unit of its last digit (plus rounding noise).
void ExpectMatches(double actual, double expected, const std::string& what) {
  const int decimals = Decimals(expected);
  EXPECT_NEAR(actual, expected, 0.5 * std::pow(10.0, -decimals) + 1e-9)
      << what << ": got " << Fixed(actual, decimals + 3);
}

std::vector<absl::string_view> Views(const std::vector<std::string>& lines) {
  return std::vector<absl::string_view>(lines.begin(), lines.end());
}

struct Corpus {
  std::vector<std::string> hyps;
  std::vector<std::vector<std::string>> refs;

  std::vector<absl::string_view> HypViews() const { return Views(hyps); }
  std::vector<std::vector<absl::string_view>> RefViews() const {
    std::vector<std::vector<absl::string_view>> views;
    for (const auto& stream : refs) views.push_back(Views(stream));
    return views;
  }
};

Corpus ReadmeCorpus() {
  const json& data = Vectors()["readme_data"];
  Corpus corpus;
  corpus.hyps = data["hyps"].get<std::vector<std::string>>();
  corpus.refs = data["refs"].get<std::vector<std::vector<std::string>>>();
  return corpus;
}

ScoreResult MustScore(const Corpus& corpus, const ScoreOptions& options) {
  absl::StatusOr<ScoreResult> result = ScoreLines(corpus.HypViews(), corpus.RefViews(), options);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : ScoreResult();
}

TEST(BleuSacrebleuTest, CorpusBleuOnTheReadmeExample) {
  int checked = 0;
  for (const json& item : Vectors()["corpus_bleu_readme"]) {
    Corpus corpus = ReadmeCorpus();
    ScoreOptions options;
    if (item.contains("tokenize")) {
      options.bleu.tokenizer = *ParseTokenizer(item["tokenize"].get<std::string>());
    }
    if (item.contains("smooth")) {
      options.bleu.smooth_method = *ParseSmoothing(item["smooth"].get<std::string>());
    }
    if (item.contains("max_ngram_order")) {
      options.bleu.max_ngram_order = item["max_ngram_order"].get<int>();
    }
    std::string what = item.dump();
    const std::string variant = item.value("case", "");
    if (variant.find("first reference of the first stream") != std::string::npos) {
      corpus.refs[0][0] = "";
    } else if (variant.find("all three hypotheses empty") != std::string::npos) {
      for (std::string& hyp : corpus.hyps) hyp.clear();
    } else {
      ASSERT_TRUE(variant.empty()) << "unknown case " << what;
    }
    const ScoreResult result = MustScore(corpus, options);
    ExpectMatches(result.score, item["score"].get<double>(), what);
    if (item.contains("line")) {
      const std::string line = item["line"].get<std::string>();
      if (line.rfind("BLEU = ", 0) == 0) {
        EXPECT_EQ(result.line, line);
      } else {
        // The test suite states the verbose part in its own words: rebuild it from ours.
        const BleuStats stats = *BleuStats::FromVector(result.stats);
        const BleuScore score = ToScore(stats, options.bleu);
        std::string ours;
        for (size_t n = 0; n < score.precisions.size(); ++n) {
          ours += (n ? "/" : "") + Fixed(score.precisions[n], 1);
        }
        ours += " BP " + Fixed(score.bp, 3) + " ratio " + Fixed(score.ratio, 3) + " hyp_len " +
                std::to_string(score.hyp_len) + " ref_len " + std::to_string(score.ref_len);
        EXPECT_EQ(ours, line);
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, 11);
}

TEST(BleuSacrebleuTest, SignatureOfTheDefaults) {
  const ScoreResult result = MustScore(ReadmeCorpus(), ScoreOptions());
  EXPECT_EQ(result.signature, "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
  std::string generic = result.signature;
  generic.replace(0, std::string("nrefs:2").size(), "nrefs:N");
  EXPECT_NE(Vectors()["about"].get<std::string>().find(generic), std::string::npos);
}

TEST(BleuSacrebleuTest, ComputeBleuFromStatistics) {
  int checked = 0;
  for (const json& item : Vectors()["compute_bleu_direct"]) {
    const auto correct = item["correct"].get<std::vector<int64_t>>();
    const auto total = item["total"].get<std::vector<int64_t>>();
    BleuStats stats(static_cast<int>(correct.size()));
    stats.correct = correct;
    stats.total = total;
    stats.hyp_len = item["sys_len"].get<int64_t>();
    stats.ref_len = item["ref_len"].get<int64_t>();
    BleuOptions options;
    options.smooth_method = *ParseSmoothing(item["smooth"].get<std::string>());
    ExpectMatches(ToScore(stats, options).score / 100, item["score_over_100"].get<double>(),
                  item.dump());
    ++checked;
  }
  EXPECT_EQ(checked, 1);
}

TEST(BleuSacrebleuTest, RawCorpusBleu) {
  // sacrebleu.raw_corpus_bleu(hyps, refs, 0.01): no tokenisation, floor smoothing, effective
  // order.
  int checked = 0;
  for (const json& item : Vectors()["raw_corpus_bleu"]["cases"]) {
    Corpus corpus;
    corpus.hyps = item["hyps"].get<std::vector<std::string>>();
    corpus.refs = item["refs"].get<std::vector<std::vector<std::string>>>();
    ScoreOptions options;
    options.bleu.tokenizer = Tokenizer::kNone;
    options.bleu.smooth_method = Smoothing::kFloor;
    options.bleu.smooth_value = item.value("smooth_value", 0.01);
    options.bleu.effective_order = true;
    // A reference stream may be longer than the hypotheses; sacreBLEU zips them.
    for (auto& stream : corpus.refs) stream.resize(corpus.hyps.size());
    ExpectMatches(MustScore(corpus, options).score / 100, item["score"].get<double>(), item.dump());
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST(BleuSacrebleuTest, SentenceBleu) {
  const json& group = Vectors()["sentence_bleu"];
  const std::string hyp = group["hyp"].get<std::string>();
  const std::string ref = group["ref"].get<std::string>();
  const std::vector<absl::string_view> refs = {ref};
  int checked = 0;
  for (const json& item : group["cases"]) {
    BleuOptions options;
    options.effective_order = true;
    options.smooth_method = *ParseSmoothing(item["smooth"].get<std::string>());
    options.tokenizer = *ParseTokenizer(item["tokenize"].get<std::string>());
    if (item.contains("smooth_value")) options.smooth_value = item["smooth_value"].get<double>();
    absl::StatusOr<BleuScore> score = SentenceBleu(hyp, refs, options);
    ASSERT_TRUE(score.ok()) << score.status();
    // These expectations are truncated (14.882 for 14.88256), not rounded: use the suite's own
    // tolerance.
    EXPECT_NEAR(score->score, item["score"].get<double>(), 1e-3) << item.dump();
    ++checked;
  }
  EXPECT_EQ(checked, 9);
}

TEST(BleuSacrebleuTest, SentenceChrfWithBeta3AndEpsSmoothing) {
  int checked = 0;
  for (const json& item : Vectors()["chrf_beta3_eps_smoothing"]["cases"]) {
    ChrfOptions options;
    options.beta = 3;
    options.eps_smoothing = true;
    const std::string hyp = item["hyp"].get<std::string>();
    const std::string ref = item["ref"].get<std::string>();
    const std::vector<absl::string_view> refs = {ref};
    absl::StatusOr<ChrfScore> score = SentenceChrf(hyp, refs, options);
    ASSERT_TRUE(score.ok()) << score.status();
    EXPECT_EQ(score->name, "chrF3");
    EXPECT_NEAR(score->score, item["score"].get<double>(), 1e-4) << item.dump();
    ++checked;
  }
  EXPECT_EQ(checked, 6);
}

TEST(BleuSacrebleuTest, CorpusChrfOnTheReadmeExample) {
  ScoreOptions options;
  options.metric = Metric::kChrf;
  const ScoreResult result = MustScore(ReadmeCorpus(), options);
  ExpectMatches(result.score, Vectors()["chrf_readme"]["score"].get<double>(), "chrF readme");
  EXPECT_EQ(result.line, "chrF2 = 59.73");
  EXPECT_EQ(result.signature, "nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0");
}

}  // namespace
}  // namespace fathom::eval
