// chrF and chrF++ exactly as sacreBLEU 2.x computes them (metrics/chrf.py): character n-grams
// of orders 1..char_order (whitespace removed unless `whitespace`), plus word n-grams of orders
// 1..word_order for chrF++ (words split off one leading or trailing ASCII punctuation mark),
// per-order precision and recall averaged over the orders, F-beta. With several references a
// segment keeps the statistics of its best-scoring reference.
#ifndef FATHOM_EVAL_BLEU_CHRF_H_
#define FATHOM_EVAL_BLEU_CHRF_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "eval/bleu/ngram_matcher.h"

namespace fathom::eval {

struct ChrfOptions {
  int char_order = 6;
  int word_order = 0;  // 2 gives chrF++
  int beta = 2;        // recall is beta times as important as precision
  bool lowercase = false;
  bool whitespace = false;  // keep whitespace inside character n-grams
  // chrF++.py/NLTK/Moses epsilon smoothing instead of sacreBLEU's effective-order averaging;
  // only matters for very short segments.
  bool eps_smoothing = false;
};

// Per order (characters first, then words): hypothesis n-grams, reference n-grams, matches.
struct ChrfStats {
  explicit ChrfStats(int num_orders = 6) : values(3 * num_orders, 0) {}
  std::vector<int64_t> values;  // what to all-reduce

  ChrfStats& operator+=(const ChrfStats& other);
};
ChrfStats operator+(ChrfStats a, const ChrfStats& b);

struct ChrfScore {
  std::string name;    // "chrF2", "chrF2++"
  double score = 0.0;  // 0..100
  // sacreBLEU's line, e.g. "chrF2 = 59.73".
  std::string Format(int width = 2) const;
};

// sacreBLEU's CHRF._compute_f_score, 0..100.
double ChrfFScore(absl::Span<const int64_t> stats, const ChrfOptions& options);
ChrfScore ToScore(const ChrfStats& stats, const ChrfOptions& options);

// "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0"; num_refs < 0 prints "var".
std::string ChrfSignature(const ChrfOptions& options, int num_refs);

class ChrfScorer {
 public:
  explicit ChrfScorer(const ChrfOptions& options);

  // Adds one segment; an empty reference counts as one with no n-grams (sacreBLEU 2.6) and a
  // segment whose references are all empty is an error, as for BLEU.
  absl::Status Add(absl::string_view hyp, absl::Span<const absl::string_view> refs);

  const ChrfStats& stats() const { return stats_; }
  int num_refs() const;
  ChrfScore Score() const { return ToScore(stats_, options_); }
  std::string Signature() const { return ChrfSignature(options_, num_refs()); }

 private:
  // Code points of `text` (lowercased already), without whitespace unless options say so.
  void CharUnits(absl::string_view text, std::vector<uint32_t>* units) const;

  ChrfOptions options_;
  int num_orders_;
  ChrfStats stats_;
  absl::flat_hash_set<int> ref_counts_seen_;
  NgramMatcher char_matcher_;
  NgramMatcher word_matcher_;
  WordIds word_ids_;
  std::string hyp_lower_;
  std::string ref_lower_;
  std::vector<uint32_t> hyp_chars_;
  std::vector<uint32_t> ref_chars_;
  std::vector<absl::string_view> hyp_words_;
  std::vector<absl::string_view> ref_words_;
  std::vector<absl::string_view> split_scratch_;
  std::vector<uint32_t> hyp_word_units_;
  std::vector<uint32_t> ref_word_units_;
  std::vector<int64_t> matches_;
  std::vector<int64_t> segment_;
  std::vector<int64_t> best_;
};

// sacreBLEU's CHRF(...).sentence_score(hyp, refs).
absl::StatusOr<ChrfScore> SentenceChrf(absl::string_view hyp,
                                       absl::Span<const absl::string_view> refs,
                                       const ChrfOptions& options);

namespace chrf_internal {
// CHRF._remove_punctuation: str.split(), then a word of two or more characters loses one
// trailing ASCII punctuation mark, or else one leading one, as a word of its own.
void SplitWords(absl::string_view text, std::vector<absl::string_view>* split_scratch,
                std::vector<absl::string_view>* words);
}  // namespace chrf_internal

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_BLEU_CHRF_H_
