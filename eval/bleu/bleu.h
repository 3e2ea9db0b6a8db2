// Corpus and sentence BLEU exactly as sacreBLEU 2.x computes it (metrics/bleu.py): n-gram
// matches clipped by the largest count in any reference, summed over segments; the closest
// reference length (ties: the shorter); brevity penalty; exp/floor/add-k/none smoothing.
//
// Statistics are plain integers that add up, so ranks can score their shards, all-reduce
// BleuStats::ToVector() and call ToScore() once, getting the score of the whole corpus.
#ifndef FATHOM_EVAL_BLEU_BLEU_H_
#define FATHOM_EVAL_BLEU_BLEU_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "eval/bleu/ngram_matcher.h"
#include "eval/bleu/tokenizer.h"

namespace fathom::eval {

// sacreBLEU's smooth_method: exp (mteval-v13a, the default), floor, add-k, none.
enum class Smoothing { kExp, kFloor, kAddK, kNone };
absl::StatusOr<Smoothing> ParseSmoothing(absl::string_view name);  // "exp", "floor", ...
absl::string_view SmoothingName(Smoothing smoothing);

struct BleuOptions {
  Tokenizer tokenizer = Tokenizer::k13a;
  bool lowercase = false;  // case-insensitive BLEU (signature case:lc)
  Smoothing smooth_method = Smoothing::kExp;
  // Value for floor and add-k; unset means sacreBLEU's defaults, 0.1 and 1.
  std::optional<double> smooth_value;
  int max_ngram_order = 4;
  // Average only the orders up to the last one with any hypothesis n-grams. Off for corpus
  // BLEU (sacreBLEU's default); sentence BLEU wants it on.
  bool effective_order = false;
};

// Sufficient statistics: sums over segments.
struct BleuStats {
  explicit BleuStats(int max_ngram_order = 4)
      : correct(max_ngram_order, 0), total(max_ngram_order, 0) {}

  int64_t hyp_len = 0;
  int64_t ref_len = 0;           // sum of the closest reference lengths
  std::vector<int64_t> correct;  // clipped matches per order 1..N
  std::vector<int64_t> total;    // hypothesis n-grams per order

  BleuStats& operator+=(const BleuStats& other);
  // sacreBLEU's flat layout [hyp_len, ref_len, correct..., total...]: what to all-reduce.
  std::vector<int64_t> ToVector() const;
  static absl::StatusOr<BleuStats> FromVector(absl::Span<const int64_t> values);
};
BleuStats operator+(BleuStats a, const BleuStats& b);

struct BleuScore {
  double score = 0.0;              // 0..100
  std::vector<double> precisions;  // per order, percent
  double bp = 0.0;
  double ratio = 0.0;  // hyp_len / ref_len
  int64_t hyp_len = 0;
  int64_t ref_len = 0;

  // sacreBLEU's line, the score with `width` decimals:
  // "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"
  std::string Format(int width = 2) const;
};

// sacreBLEU's BLEU.compute_bleu on `stats`.
BleuScore ToScore(const BleuStats& stats, const BleuOptions& options);

// "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"; num_refs < 0 prints "var"
// (segments had different numbers of references).
std::string BleuSignature(const BleuOptions& options, int num_refs);

// Accumulates statistics segment by segment, reusing its buffers.
class BleuScorer {
 public:
  explicit BleuScorer(const BleuOptions& options);

  // Adds one segment. Empty references ("") are left out, as sacreBLEU does for segments with
  // fewer references; a segment left with none is an error, as in sacreBLEU.
  absl::Status Add(absl::string_view hyp, absl::Span<const absl::string_view> refs);

  const BleuStats& stats() const { return stats_; }
  // References per segment, -1 when it varied, 0 before any segment.
  int num_refs() const;
  BleuScore Score() const { return ToScore(stats_, options_); }
  std::string Signature() const { return BleuSignature(options_, num_refs()); }

 private:
  BleuOptions options_;
  BleuStats stats_;
  absl::flat_hash_set<int> ref_counts_seen_;
  LineTokenizer hyp_tokenizer_;
  LineTokenizer ref_tokenizer_;
  WordIds word_ids_;
  NgramMatcher matcher_;
  std::string hyp_lower_;
  std::string ref_lower_;
  std::vector<uint32_t> hyp_units_;
  std::vector<uint32_t> ref_units_;
};

// sacreBLEU's BLEU(...).sentence_score(hyp, refs); pass effective_order = true as sacreBLEU
// recommends.
absl::StatusOr<BleuScore> SentenceBleu(absl::string_view hyp,
                                       absl::Span<const absl::string_view> refs,
                                       const BleuOptions& options);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_BLEU_BLEU_H_
