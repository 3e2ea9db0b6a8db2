// Scoring a hypothesis file against reference files, as `sacrebleu REF... -i HYP` does:
// UTF-8 text, one segment per line, trailing whitespace stripped, corpus BLEU or chrF.
#ifndef FATHOM_EVAL_BLEU_SCORE_FILES_H_
#define FATHOM_EVAL_BLEU_SCORE_FILES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "eval/bleu/bleu.h"
#include "eval/bleu/chrf.h"

namespace fathom::eval {

enum class Metric { kBleu, kChrf };
absl::StatusOr<Metric> ParseMetric(absl::string_view name);  // "bleu" or "chrf"

struct ScoreOptions {
  Metric metric = Metric::kBleu;
  BleuOptions bleu;  // used when metric is kBleu
  ChrfOptions chrf;  // used when metric is kChrf
  int width = 2;     // decimals of the score in `line` (sacreBLEU's --width)
  // ScoreFiles only (`fathom score --on_bad_line skip`): a line that is not UTF-8 is scored as an
  // empty line, and a segment whose references are all empty is left out, instead of
  // failing the whole file. Either is counted in ScoreResult::skipped.
  bool skip_bad_lines = false;
};

// The lines skip_bad_lines let through: how many, and the first few as "file:line: why".
struct SkippedLines {
  static constexpr size_t kNamed = 5;
  int64_t count = 0;
  std::vector<std::string> first;
  void Add(std::string what);
};

struct ScoreResult {
  std::string name;  // "BLEU", "chrF2", "chrF2++"
  double score = 0.0;
  // As sacreBLEU prints them: "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944
  // hyp_len = 17 ref_len = 18)" and "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0".
  std::string line;
  std::string signature;
  int64_t segments = 0;
  // The summed statistics (BleuStats::ToVector() or ChrfStats::values).
  std::vector<int64_t> stats;
  SkippedLines skipped;  // empty unless options.skip_bad_lines
};

// Scores `hyp_path` against one or more reference files, line i against line i of each. Orders
// outside [1, 32] (BLEU's max_ngram_order, chrF's char_order; word_order [0, 32]) and a negative
// chrF beta are errors naming the option. Errors name the file: missing or unreadable files,
// invalid UTF-8 (file:line), line counts that differ (both files, both counts), an empty hypothesis
// file, a line empty in every reference. With options.skip_bad_lines the last two kinds (invalid
// UTF-8, a segment without reference) are counted in ScoreResult::skipped instead; line counts must
// still agree.
absl::StatusOr<ScoreResult> ScoreFiles(const std::string& hyp_path,
                                       const std::vector<std::string>& ref_paths,
                                       const ScoreOptions& options);

// The same on lines in memory: refs[k][i] is reference k of segment i (sacreBLEU's layout).
// Lines are used as given (ScoreFiles strips trailing whitespace first, as sacreBLEU's CLI).
absl::StatusOr<ScoreResult> ScoreLines(const std::vector<absl::string_view>& hyps,
                                       const std::vector<std::vector<absl::string_view>>& refs,
                                       const ScoreOptions& options);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_BLEU_SCORE_FILES_H_
