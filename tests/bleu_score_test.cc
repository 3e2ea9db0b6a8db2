// BLEU and chrF on sentence pairs small enough to score by hand; each comment shows the
// arithmetic. Also: statistics add up across shards as the trainer's all-reduce needs.
#include <string>
#include <vector>

#include "eval/bleu/bleu.h"
#include "eval/bleu/chrf.h"
#include "eval/bleu/score_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fathom::eval {
namespace {

using ::testing::HasSubstr;

BleuScore MustBleu(absl::string_view hyp, std::vector<absl::string_view> refs,
                   const BleuOptions& options = BleuOptions()) {
  absl::StatusOr<BleuScore> score = SentenceBleu(hyp, refs, options);
  EXPECT_TRUE(score.ok()) << score.status();
  return score.ok() ? *score : BleuScore();
}

// hyp "the the the cat" (4 tokens), ref "the cat sat on the mat" (6 tokens).
//   1-grams: the x3 clipped to the ref's 2, cat 1      -> 3/4 = 75.0
//   2-grams: "the the" x2, "the cat" (in the ref)      -> 1/3 = 33.3
//   3-grams: "the the the", "the the cat"              -> 0/2
//   4-grams: "the the the cat"                         -> 0/1
//   BP = exp(1 - 6/4) = exp(-0.5) = 0.6065
constexpr absl::string_view kClipHyp = "the the the cat";
constexpr absl::string_view kClipRef = "the cat sat on the mat";

TEST(BleuScoreTest, ClippingBrevityPenaltyAndExpSmoothing) {
  // exp: the first zero order gets 100 / (2 * 2) = 25.0, the next 100 / (4 * 1) = 25.0.
  // (75 * 33.33 * 25 * 25)^(1/4) = 1562500^(1/4) = 35.355; * 0.6065 = 21.44.
  const BleuScore score = MustBleu(kClipHyp, {kClipRef});
  EXPECT_NEAR(score.score, 21.4441, 1e-4);
  EXPECT_EQ(score.Format(),
            "BLEU = 21.44 75.0/33.3/25.0/25.0 (BP = 0.607 ratio = 0.667 hyp_len = 4 ref_len = 6)");
}

TEST(BleuScoreTest, OtherSmoothings) {
  BleuOptions options;
  // none: a zero precision makes the score 0.
  options.smooth_method = Smoothing::kNone;
  EXPECT_EQ(MustBleu(kClipHyp, {kClipRef}, options).Format(),
            "BLEU = 0.00 75.0/33.3/0.0/0.0 (BP = 0.607 ratio = 0.667 hyp_len = 4 ref_len = 6)");
  // floor 0.1: 100 * 0.1 / 2 = 5.0 and 100 * 0.1 / 1 = 10.0;
  // (75 * 33.33 * 5 * 10)^(1/4) = 125000^(1/4) = 18.803; * 0.6065 = 11.40.
  options.smooth_method = Smoothing::kFloor;
  EXPECT_EQ(MustBleu(kClipHyp, {kClipRef}, options).Format(),
            "BLEU = 11.40 75.0/33.3/5.0/10.0 (BP = 0.607 ratio = 0.667 hyp_len = 4 ref_len = 6)");
  // add-k 1 (orders 2+): 2/4, 1/3, 1/2; (75 * 50 * 33.33 * 50)^(1/4) = 6250000^(1/4) = 50;
  // * 0.6065 = 30.33.
  options.smooth_method = Smoothing::kAddK;
  EXPECT_EQ(MustBleu(kClipHyp, {kClipRef}, options).Format(),
            "BLEU = 30.33 75.0/50.0/33.3/50.0 (BP = 0.607 ratio = 0.667 hyp_len = 4 ref_len = 6)");
  EXPECT_EQ(BleuSignature(options, 1),
            "nrefs:1|case:mixed|eff:no|tok:13a|smooth:add-k[1.00]|version:2.6.0");
  options.smooth_method = Smoothing::kFloor;
  options.smooth_value = 0.01;
  options.effective_order = true;
  options.lowercase = true;
  EXPECT_EQ(BleuSignature(options, -1),
            "nrefs:var|case:lc|eff:yes|tok:13a|smooth:floor[0.01]|version:2.6.0");
}

// hyp "a a b c d" (5) against "a b c d" (4) and "a a x y z w" (6).
//   Clipping takes the max count over references: "a" x2 is allowed by the second one.
//   1-grams 5/5; 2-grams "a a" (ref 2), "a b", "b c", "c d" (ref 1) -> 4/4;
//   3-grams "a b c", "b c d" -> 2/3; 4-grams "a b c d" -> 1/2.
//   Lengths 4 and 6 are both 1 away from 5: the shorter wins, so BP = 1 (ratio 5/4).
//   (100 * 100 * 66.67 * 50)^(1/4) = 33333333^(1/4) = 75.98.
TEST(BleuScoreTest, SeveralReferencesMaxClippingAndClosestLengthTie) {
  const std::string expected =
      "BLEU = 75.98 100.0/100.0/66.7/50.0 (BP = 1.000 ratio = 1.250 hyp_len = 5 ref_len = 4)";
  EXPECT_EQ(MustBleu("a a b c d", {"a b c d", "a a x y z w"}).Format(), expected);
  EXPECT_EQ(MustBleu("a a b c d", {"a a x y z w", "a b c d"}).Format(), expected);
  // With the first reference alone "a" is clipped to 1: 4/5 = 80.0, 3/4 = 75.0.
  EXPECT_EQ(MustBleu("a a b c d", {"a b c d"}).Format(),
            "BLEU = 66.87 80.0/75.0/66.7/50.0 (BP = 1.000 ratio = 1.250 hyp_len = 5 ref_len = 4)");
  // An empty reference is one of length 0, as in sacreBLEU 2.6: here 5 away, so "a b c d" stays
  // the closest and the score is the same, but it counts as a reference.
  EXPECT_EQ(MustBleu("a a b c d", {"", "a b c d"}).Format(),
            MustBleu("a a b c d", {"a b c d"}).Format());
  // For a one-word hypothesis the empty reference (1 away) is closer than "a b c d" (3 away):
  // ref_len 0 and BP 1, where leaving it out gave BP exp(1 - 4) = 0.050.
  EXPECT_THAT(MustBleu("a", {"a b c d", ""}).Format(), HasSubstr("BP = 1.000"));
  EXPECT_THAT(MustBleu("a", {"a b c d", ""}).Format(), HasSubstr("ref_len = 0"));
  BleuScorer two_refs{BleuOptions()};
  std::vector<absl::string_view> with_empty = {"a b c d", ""};
  ASSERT_TRUE(two_refs.Add("a b", with_empty).ok());
  EXPECT_EQ(two_refs.num_refs(), 2);  // sacreBLEU 2.6: nrefs:2, not var
  // All of them empty: refused (sacreBLEU would score against nothing; in files this means
  // misaligned lines).
  std::vector<absl::string_view> empty = {""};
  EXPECT_FALSE(SentenceBleu("a", empty, BleuOptions()).ok());
}

TEST(BleuScoreTest, StatisticsAddUpAcrossShards) {
  const std::vector<std::string> hyps = {"The dog bit the man.", "It wasn't surprising.",
                                         "The man had just bitten him.", "the the the cat"};
  const std::vector<std::string> refs = {"The dog bit the man.", "It was not unexpected.",
                                         "The man bit him first.", "the cat sat on the mat"};
  BleuOptions options;
  BleuScorer whole(options);
  BleuScorer first(options);
  BleuScorer second(options);
  for (size_t i = 0; i < hyps.size(); ++i) {
    std::vector<absl::string_view> segment_refs = {refs[i]};
    ASSERT_TRUE(whole.Add(hyps[i], segment_refs).ok());
    ASSERT_TRUE((i < 2 ? first : second).Add(hyps[i], segment_refs).ok());
  }
  const BleuStats sum = first.stats() + second.stats();
  EXPECT_EQ(sum.ToVector(), whole.stats().ToVector());
  // The flat vector is what ranks all-reduce; it converts back losslessly.
  const BleuStats back = *BleuStats::FromVector(sum.ToVector());
  EXPECT_EQ(ToScore(back, options).Format(), whole.Score().Format());
  EXPECT_FALSE(BleuStats::FromVector(std::vector<int64_t>{1, 2, 3}).ok());

  ChrfOptions chrf_options;
  ChrfScorer chrf_whole(chrf_options);
  ChrfScorer chrf_first(chrf_options);
  ChrfScorer chrf_second(chrf_options);
  for (size_t i = 0; i < hyps.size(); ++i) {
    std::vector<absl::string_view> segment_refs = {refs[i]};
    ASSERT_TRUE(chrf_whole.Add(hyps[i], segment_refs).ok());
    ASSERT_TRUE((i < 2 ? chrf_first : chrf_second).Add(hyps[i], segment_refs).ok());
  }
  EXPECT_EQ((chrf_first.stats() + chrf_second.stats()).values, chrf_whole.stats().values);
}

TEST(BleuScoreTest, EmptyHypothesesScoreZero) {
  // No match at all: sacreBLEU returns 0 without smoothing, and BP 0 for an empty output.
  EXPECT_EQ(MustBleu("", {"a b"}).Format(),
            "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 0.000 ratio = 0.000 hyp_len = 0 ref_len = 2)");
}

// hyp "abc", ref "abd", chrF (char order 6, beta 2, effective order):
//   order 1: P = R = 2/3 (a, b); order 2: "ab" of {ab, bc} / {ab, bd}: 1/2; order 3: 0;
//   orders 4-6: the reference has none, so they do not count.
//   avg P = avg R = (2/3 + 1/2 + 0) / 3 = 7/18; F2 = 5 P R / (4 P + R) = P = 38.89.
// chrF++ adds word 1-grams "abc" vs "abd" (0/1) and no 2-grams: (7/6) / 4 = 29.17.
TEST(BleuScoreTest, ChrfByHand) {
  std::vector<absl::string_view> refs = {"abd"};
  ChrfOptions options;
  absl::StatusOr<ChrfScore> chrf = SentenceChrf("abc", refs, options);
  ASSERT_TRUE(chrf.ok());
  EXPECT_NEAR(chrf->score, 100.0 * 7 / 18, 1e-9);
  EXPECT_EQ(chrf->Format(), "chrF2 = 38.89");
  options.word_order = 2;
  chrf = SentenceChrf("abc", refs, options);
  ASSERT_TRUE(chrf.ok());
  EXPECT_NEAR(chrf->score, 100.0 * 7 / 24, 1e-9);
  EXPECT_EQ(chrf->Format(), "chrF2++ = 29.17");
  EXPECT_EQ(ChrfSignature(options, 1),
            "nrefs:1|case:mixed|eff:yes|nc:6|nw:2|space:no|version:2.6.0");
  // Whitespace is removed from character n-grams unless asked for.
  refs = {"a b c"};
  options.word_order = 0;
  EXPECT_NEAR(SentenceChrf("abc", refs, options)->score, 100.0, 1e-9);
  options.whitespace = true;
  EXPECT_LT(SentenceChrf("abc", refs, options)->score, 100.0);
}

TEST(BleuScoreTest, ChrfPlusPlusWordSplitting) {
  std::vector<absl::string_view> scratch;
  std::vector<absl::string_view> words;
  // One trailing mark, else one leading mark, comes off (so "(world)" -> "(world", ")").
  chrf_internal::SplitWords("Hello, (world) ! \"quoted\" a. é.", &scratch, &words);
  EXPECT_EQ(words, (std::vector<absl::string_view>{"Hello", ",", "(world", ")", "!", "\"quoted",
                                                   "\"", "a", ".", "é", "."}));
}

TEST(BleuScoreTest, Lowercase) {
  BleuOptions options;
  options.lowercase = true;
  EXPECT_NEAR(MustBleu("THE CAT SAT DOWN", {"the cat sat down"}, options).score, 100.0, 1e-9);
  EXPECT_EQ(MustBleu("THE CAT SAT DOWN", {"the cat sat down"}).score, 0.0);
}

}  // namespace
}  // namespace fathom::eval
