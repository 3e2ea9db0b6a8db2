#include "eval/bleu/chrf.h"

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "eval/bleu/python_text.h"
#include "eval/bleu/unicode_tables.h"
#include "eval/bleu/version.h"

namespace fathom::eval {
namespace {

std::string Fixed(double x, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, x);
  return buffer;
}

// Python's string.punctuation, which chrF++ splits off words.
bool IsAsciiPunctuation(unsigned char c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

// Appends one order's [hyp, ref, match]. sacreBLEU counts no hypothesis n-grams for an order
// the reference is too short to have ("hyp_count if ref_ngrams else 0").
void AppendOrder(int64_t hyp_length, int64_t ref_length, int n, int64_t matches,
                 std::vector<int64_t>* stats) {
  const int64_t hyp_ngrams = std::max<int64_t>(0, hyp_length - n + 1);
  const int64_t ref_ngrams = std::max<int64_t>(0, ref_length - n + 1);
  stats->push_back(ref_ngrams > 0 ? hyp_ngrams : 0);
  stats->push_back(ref_ngrams);
  stats->push_back(matches);
}

}  // namespace

namespace chrf_internal {

void SplitWords(absl::string_view text, std::vector<absl::string_view>* split_scratch,
                std::vector<absl::string_view>* words) {
  split_scratch->clear();
  words->clear();
  PythonSplit(text, split_scratch);
  for (absl::string_view word : *split_scratch) {
    size_t first_end = 0;
    DecodeUtf8(word, &first_end);
    if (first_end == word.size()) {  // a single character
      words->push_back(word);
      continue;
    }
    // The only ASCII byte of a character is the character itself, so byte tests suffice.
    if (IsAsciiPunctuation(static_cast<unsigned char>(word.back()))) {
      words->push_back(word.substr(0, word.size() - 1));
      words->push_back(word.substr(word.size() - 1));
    } else if (IsAsciiPunctuation(static_cast<unsigned char>(word.front()))) {
      words->push_back(word.substr(0, 1));
      words->push_back(word.substr(1));
    } else {
      words->push_back(word);
    }
  }
}

}  // namespace chrf_internal

ChrfStats& ChrfStats::operator+=(const ChrfStats& other) {
  if (values.size() < other.values.size()) values.resize(other.values.size(), 0);
  for (size_t i = 0; i < other.values.size(); ++i) values[i] += other.values[i];
  return *this;
}

ChrfStats operator+(ChrfStats a, const ChrfStats& b) { return a += b; }

double ChrfFScore(absl::Span<const int64_t> stats, const ChrfOptions& options) {
  // Same operations in the same order as CHRF._compute_f_score.
  constexpr double kEps = 1e-16;
  const int order = static_cast<int>(stats.size() / 3);
  const double factor = static_cast<double>(options.beta) * options.beta;
  double score = 0.0;
  double avg_prec = 0.0;
  double avg_rec = 0.0;
  int effective_order = 0;
  for (int i = 0; i < order; ++i) {
    const int64_t n_hyp = stats[3 * i];
    const int64_t n_ref = stats[3 * i + 1];
    const int64_t n_match = stats[3 * i + 2];
    const double prec = n_hyp > 0 ? static_cast<double>(n_match) / n_hyp : kEps;
    const double rec = n_ref > 0 ? static_cast<double>(n_match) / n_ref : kEps;
    const double denom = factor * prec + rec;
    score += denom > 0 ? ((1 + factor) * prec * rec / denom) : kEps;
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (options.eps_smoothing) return 100 * score / order;
  if (effective_order == 0) {
    avg_prec = 0.0;
    avg_rec = 0.0;
  } else {
    avg_prec /= effective_order;
    avg_rec /= effective_order;
  }
  if (avg_prec + avg_rec == 0.0) return 0.0;
  score = (1 + factor) * avg_prec * avg_rec;
  score /= (factor * avg_prec) + avg_rec;
  return 100 * score;
}

ChrfScore ToScore(const ChrfStats& stats, const ChrfOptions& options) {
  ChrfScore score;
  score.name = absl::StrCat("chrF", options.beta, std::string(options.word_order, '+'));
  score.score = ChrfFScore(stats.values, options);
  return score;
}

std::string ChrfScore::Format(int width) const {
  return absl::StrCat(name, " = ", Fixed(score, width));
}

std::string ChrfSignature(const ChrfOptions& options, int num_refs) {
  return absl::StrCat("nrefs:", num_refs < 0 ? "var" : absl::StrCat(num_refs),
                      "|case:", options.lowercase ? "lc" : "mixed",
                      "|eff:", options.eps_smoothing ? "no" : "yes", "|nc:", options.char_order,
                      "|nw:", options.word_order, "|space:", options.whitespace ? "yes" : "no",
                      "|version:", kSacrebleuVersion);
}

ChrfScorer::ChrfScorer(const ChrfOptions& options)
    : options_(options),
      num_orders_(options.char_order + options.word_order),
      stats_(num_orders_) {}

int ChrfScorer::num_refs() const {
  if (ref_counts_seen_.empty()) return 0;
  if (ref_counts_seen_.size() > 1) return -1;
  return *ref_counts_seen_.begin();
}

void ChrfScorer::CharUnits(absl::string_view text, std::vector<uint32_t>* units) const {
  units->clear();
  size_t pos = 0;
  while (pos < text.size()) {
    const char32_t cp = DecodeUtf8(text, &pos);
    if (options_.whitespace || !IsPythonSpace(cp)) units->push_back(cp);
  }
}

absl::Status ChrfScorer::Add(absl::string_view hyp, absl::Span<const absl::string_view> refs) {
  const int char_order = options_.char_order;
  const int word_order = options_.word_order;
  if (options_.lowercase) {
    PythonLower(hyp, &hyp_lower_);
    hyp = hyp_lower_;
  }
  CharUnits(hyp, &hyp_chars_);
  char_matcher_.SetHypothesis(hyp_chars_, char_order);
  if (word_order > 0) {
    chrf_internal::SplitWords(hyp, &split_scratch_, &hyp_words_);
    word_ids_.SetHypothesis(hyp_words_, &hyp_word_units_);
    word_matcher_.SetHypothesis(hyp_word_units_, word_order);
  }

  // As for BLEU: an empty reference is one with no n-grams (sacreBLEU 2.6), all empty an error.
  if (std::all_of(refs.begin(), refs.end(), [](absl::string_view r) { return r.empty(); })) {
    return absl::InvalidArgumentError("every reference of the segment is empty");
  }
  const int used_refs = static_cast<int>(refs.size());
  double best_f = -1.0;
  for (absl::string_view ref : refs) {
    if (options_.lowercase) {
      PythonLower(ref, &ref_lower_);
      ref = ref_lower_;
    }
    segment_.clear();
    CharUnits(ref, &ref_chars_);
    matches_.assign(char_order, 0);
    char_matcher_.MatchReference(ref_chars_, matches_.data());
    for (int n = 1; n <= char_order; ++n) {
      AppendOrder(hyp_chars_.size(), ref_chars_.size(), n, matches_[n - 1], &segment_);
    }
    if (word_order > 0) {
      chrf_internal::SplitWords(ref, &split_scratch_, &ref_words_);
      word_ids_.Lookup(ref_words_, &ref_word_units_);
      matches_.assign(word_order, 0);
      word_matcher_.MatchReference(ref_word_units_, matches_.data());
      for (int n = 1; n <= word_order; ++n) {
        AppendOrder(hyp_words_.size(), ref_words_.size(), n, matches_[n - 1], &segment_);
      }
    }
    // The best reference by this segment's own F-score; the first wins ties.
    const double f = ChrfFScore(segment_, options_);
    if (f > best_f) {
      best_f = f;
      best_ = segment_;
    }
  }
  ref_counts_seen_.insert(used_refs);
  for (size_t i = 0; i < best_.size(); ++i) stats_.values[i] += best_[i];
  return absl::OkStatus();
}

absl::StatusOr<ChrfScore> SentenceChrf(absl::string_view hyp,
                                       absl::Span<const absl::string_view> refs,
                                       const ChrfOptions& options) {
  ChrfScorer scorer(options);
  absl::Status status = scorer.Add(hyp, refs);
  if (!status.ok()) return status;
  return scorer.Score();
}

}  // namespace fathom::eval
