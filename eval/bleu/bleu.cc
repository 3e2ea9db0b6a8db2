#include "eval/bleu/bleu.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "eval/bleu/python_text.h"
#include "eval/bleu/version.h"

namespace fathom::eval {
namespace {

// Python's f"{x:.{decimals}f}": both it and printf round the exact binary value correctly.
std::string Fixed(double x, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, x);
  return buffer;
}

// sacreBLEU's my_log: log(0) is floored to a huge negative number rather than -inf.
double FlooredLog(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

double DefaultSmoothValue(Smoothing smoothing) { return smoothing == Smoothing::kAddK ? 1.0 : 0.1; }

}  // namespace

absl::StatusOr<Smoothing> ParseSmoothing(absl::string_view name) {
  if (name == "exp") return Smoothing::kExp;
  if (name == "floor") return Smoothing::kFloor;
  if (name == "add-k") return Smoothing::kAddK;
  if (name == "none") return Smoothing::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown BLEU smoothing '", name, "' (expected exp, floor, add-k or none)"));
}

absl::string_view SmoothingName(Smoothing smoothing) {
  switch (smoothing) {
    case Smoothing::kExp:
      return "exp";
    case Smoothing::kFloor:
      return "floor";
    case Smoothing::kAddK:
      return "add-k";
    case Smoothing::kNone:
      return "none";
  }
  return "?";
}

BleuStats& BleuStats::operator+=(const BleuStats& other) {
  hyp_len += other.hyp_len;
  ref_len += other.ref_len;
  if (correct.size() < other.correct.size()) {
    correct.resize(other.correct.size(), 0);
    total.resize(other.total.size(), 0);
  }
  for (size_t n = 0; n < other.correct.size(); ++n) {
    correct[n] += other.correct[n];
    total[n] += other.total[n];
  }
  return *this;
}

BleuStats operator+(BleuStats a, const BleuStats& b) { return a += b; }

std::vector<int64_t> BleuStats::ToVector() const {
  std::vector<int64_t> values = {hyp_len, ref_len};
  values.insert(values.end(), correct.begin(), correct.end());
  values.insert(values.end(), total.begin(), total.end());
  return values;
}

absl::StatusOr<BleuStats> BleuStats::FromVector(absl::Span<const int64_t> values) {
  if (values.size() < 4 || values.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("BLEU statistics: expected [hyp_len, ref_len, correct x N, total x N], got ",
                     values.size(), " values"));
  }
  const int order = static_cast<int>(values.size() - 2) / 2;
  BleuStats stats(order);
  stats.hyp_len = values[0];
  stats.ref_len = values[1];
  for (int n = 0; n < order; ++n) {
    stats.correct[n] = values[2 + n];
    stats.total[n] = values[2 + order + n];
  }
  return stats;
}

BleuScore ToScore(const BleuStats& stats, const BleuOptions& options) {
  // The steps and the order of floating-point operations follow BLEU.compute_bleu, so the
  // result is the same double, not merely the same printed digits.
  const int order = options.max_ngram_order;
  const Smoothing smoothing = options.smooth_method;
  const double smooth_value = options.smooth_value.value_or(DefaultSmoothValue(smoothing));

  BleuScore score;
  score.hyp_len = stats.hyp_len;
  score.ref_len = stats.ref_len;
  score.ratio = stats.ref_len != 0 ? static_cast<double>(stats.hyp_len) / stats.ref_len : 0.0;
  if (stats.hyp_len < stats.ref_len) {
    score.bp = stats.hyp_len > 0
                   ? std::exp(1.0 - static_cast<double>(stats.ref_len) / stats.hyp_len)
                   : 0.0;
  } else {
    score.bp = 1.0;
  }
  score.precisions.assign(order, 0.0);

  bool any_match = false;
  for (int n = 0; n < order && n < static_cast<int>(stats.correct.size()); ++n) {
    any_match = any_match || stats.correct[n] != 0;
  }
  // No matching n-gram at all: 0 without smoothing (sacreBLEU issue #141).
  if (!any_match) return score;

  double smooth_mteval = 1.0;
  int effective_order = order;
  for (int n = 1; n <= order; ++n) {
    const bool known = n <= static_cast<int>(stats.correct.size());
    double correct = known ? static_cast<double>(stats.correct[n - 1]) : 0.0;
    double total = known ? static_cast<double>(stats.total[n - 1]) : 0.0;
    if (smoothing == Smoothing::kAddK && n > 1) {
      correct += smooth_value;
      total += smooth_value;
    }
    if (total == 0.0) break;
    if (options.effective_order) effective_order = n;
    double& precision = score.precisions[n - 1];
    if (correct == 0.0) {
      if (smoothing == Smoothing::kExp) {
        smooth_mteval *= 2;
        precision = 100.0 / (smooth_mteval * total);
      } else if (smoothing == Smoothing::kFloor) {
        precision = 100.0 * smooth_value / total;
      }
    } else {
      precision = 100.0 * correct / total;
    }
  }
  double log_sum = 0.0;
  for (int n = 0; n < effective_order; ++n) log_sum += FlooredLog(score.precisions[n]);
  score.score = score.bp * std::exp(log_sum / effective_order);
  return score;
}

std::string BleuScore::Format(int width) const {
  std::vector<std::string> precision_strings;
  precision_strings.reserve(precisions.size());
  for (double p : precisions) precision_strings.push_back(Fixed(p, 1));
  return absl::StrCat("BLEU = ", Fixed(score, width), " ", absl::StrJoin(precision_strings, "/"),
                      " (BP = ", Fixed(bp, 3), " ratio = ", Fixed(ratio, 3), " hyp_len = ", hyp_len,
                      " ref_len = ", ref_len, ")");
}

std::string BleuSignature(const BleuOptions& options, int num_refs) {
  std::string smooth(SmoothingName(options.smooth_method));
  if (options.smooth_method == Smoothing::kFloor || options.smooth_method == Smoothing::kAddK) {
    const double value = options.smooth_value.value_or(DefaultSmoothValue(options.smooth_method));
    absl::StrAppend(&smooth, "[", Fixed(value, 2), "]");
  }
  return absl::StrCat("nrefs:", num_refs < 0 ? "var" : absl::StrCat(num_refs),
                      "|case:", options.lowercase ? "lc" : "mixed",
                      "|eff:", options.effective_order ? "yes" : "no",
                      "|tok:", TokenizerName(options.tokenizer), "|smooth:", smooth,
                      "|version:", kSacrebleuVersion);
}

BleuScorer::BleuScorer(const BleuOptions& options)
    : options_(options),
      stats_(options.max_ngram_order),
      hyp_tokenizer_(options.tokenizer),
      ref_tokenizer_(options.tokenizer) {}

int BleuScorer::num_refs() const {
  if (ref_counts_seen_.empty()) return 0;
  if (ref_counts_seen_.size() > 1) return -1;
  return *ref_counts_seen_.begin();
}

absl::Status BleuScorer::Add(absl::string_view hyp, absl::Span<const absl::string_view> refs) {
  // sacreBLEU's _preprocess_segment: lowercase, rstrip, tokenise.
  if (options_.lowercase) {
    PythonLower(hyp, &hyp_lower_);
    hyp = hyp_lower_;
  }
  const std::vector<absl::string_view>& hyp_tokens = hyp_tokenizer_.Tokenize(PythonRstrip(hyp));
  const int64_t hyp_len = static_cast<int64_t>(hyp_tokens.size());
  const int order = options_.max_ngram_order;
  word_ids_.SetHypothesis(hyp_tokens, &hyp_units_);
  matcher_.SetHypothesis(hyp_units_, order);

  // sacreBLEU 2.6 keeps an empty reference as one of length 0 (it drops only None, which a
  // file cannot hold): it counts in nrefs and can be the closest length. A segment whose
  // references are all empty is refused here, where sacreBLEU would score it against nothing:
  // in a file it means misaligned lines (ScoreFiles names the line).
  if (std::all_of(refs.begin(), refs.end(), [](absl::string_view r) { return r.empty(); })) {
    return absl::InvalidArgumentError("every reference of the segment is empty");
  }
  const int used_refs = static_cast<int>(refs.size());
  int64_t closest_diff = -1;
  int64_t closest_len = -1;
  for (absl::string_view ref : refs) {
    if (options_.lowercase) {
      PythonLower(ref, &ref_lower_);
      ref = ref_lower_;
    }
    const std::vector<absl::string_view>& ref_tokens = ref_tokenizer_.Tokenize(PythonRstrip(ref));
    const int64_t ref_len = static_cast<int64_t>(ref_tokens.size());
    const int64_t diff = std::llabs(hyp_len - ref_len);
    if (closest_diff == -1 || diff < closest_diff) {
      closest_diff = diff;
      closest_len = ref_len;
    } else if (diff == closest_diff && ref_len < closest_len) {
      closest_len = ref_len;
    }
    word_ids_.Lookup(ref_tokens, &ref_units_);
    matcher_.AddReferenceToMax(ref_units_);
  }
  ref_counts_seen_.insert(used_refs);
  matcher_.ClipAgainstMax(stats_.correct.data());
  stats_.hyp_len += hyp_len;
  stats_.ref_len += closest_len;
  for (int n = 1; n <= order; ++n) stats_.total[n - 1] += std::max<int64_t>(0, hyp_len - n + 1);
  return absl::OkStatus();
}

absl::StatusOr<BleuScore> SentenceBleu(absl::string_view hyp,
                                       absl::Span<const absl::string_view> refs,
                                       const BleuOptions& options) {
  BleuScorer scorer(options);
  absl::Status status = scorer.Add(hyp, refs);
  if (!status.ok()) return status;
  return scorer.Score();
}

}  // namespace fathom::eval
