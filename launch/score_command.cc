// `fathom score --hyp FILE --ref FILE [--ref FILE ...]`: sacreBLEU-exact corpus BLEU or chrF on
// raw detokenised text.
#include <iostream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/logging.h"
#include "eval/bleu/score_files.h"
#include "launch/command_line.h"
#include "launch/common_flags.h"
#include "launch/subcommands.h"

ABSL_FLAG(std::string, hyp, "", "hypotheses, one detokenised sentence a line");
ABSL_FLAG(std::string, ref, "",
          "references, line-aligned with --hyp; repeat --ref (or give A,B) for several");
ABSL_FLAG(std::string, metric, "bleu", "bleu or chrf");
ABSL_FLAG(std::string, tokenize, "13a", "BLEU tokeniser: 13a, intl, char or none");
ABSL_FLAG(std::string, smooth_method, "exp", "BLEU smoothing: exp, floor, add-k or none");
ABSL_FLAG(double, smooth_value, -1,
          "floor value (default 0.1) or add-k k (default 1); < 0 keeps the default");
ABSL_FLAG(int32_t, max_ngram_order, 4, "BLEU n-gram order");
ABSL_FLAG(bool, lowercase, false, "case-insensitive scoring");
ABSL_FLAG(int32_t, chrf_word_order, 0, "chrF word n-gram order: 0 for chrF, 2 for chrF++");
ABSL_FLAG(int32_t, width, 2, "decimals of the printed score (sacreBLEU's --width)");
// Defined with `fathom translate`'s flags (translate_command.cc): one flag, one meaning.

namespace fathom::launch {
namespace {

int RunScore(const std::vector<std::string>& args) {
  if (!args.empty() || absl::GetFlag(FLAGS_hyp).empty() || absl::GetFlag(FLAGS_ref).empty()) {
    std::cerr << "usage: fathom score --hyp FILE --ref FILE [--ref FILE ...] [--metric bleu|chrf] "
                 "[--on_bad_line error|skip]\n";
    return kExitUsage;
  }
  const std::optional<bool> skip_bad_lines = SkipBadLinesFromFlag();
  if (!skip_bad_lines) return kExitUsage;
  eval::ScoreOptions options;
  auto metric = eval::ParseMetric(absl::GetFlag(FLAGS_metric));
  auto tokenizer = eval::ParseTokenizer(absl::GetFlag(FLAGS_tokenize));
  auto smoothing = eval::ParseSmoothing(absl::GetFlag(FLAGS_smooth_method));
  for (const absl::Status& s : {metric.status(), tokenizer.status(), smoothing.status()}) {
    if (!s.ok()) {
      std::cerr << "fathom score: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  options.metric = *metric;
  options.bleu.tokenizer = *tokenizer;
  options.bleu.smooth_method = *smoothing;
  if (absl::GetFlag(FLAGS_smooth_value) >= 0)
    options.bleu.smooth_value = absl::GetFlag(FLAGS_smooth_value);
  options.bleu.max_ngram_order = absl::GetFlag(FLAGS_max_ngram_order);
  options.bleu.lowercase = options.chrf.lowercase = absl::GetFlag(FLAGS_lowercase);
  options.chrf.word_order = absl::GetFlag(FLAGS_chrf_word_order);
  options.width = absl::GetFlag(FLAGS_width);
  options.skip_bad_lines = *skip_bad_lines;
  const std::vector<std::string> refs =
      absl::StrSplit(absl::GetFlag(FLAGS_ref), ',', absl::SkipEmpty());
  auto result = eval::ScoreFiles(absl::GetFlag(FLAGS_hyp), refs, options);
  if (!result.ok()) {
    FLOG(Error) << result.status().message();
    return kExitError;
  }
  std::cout << result->line << "\n" << result->signature << "\n";
  const eval::SkippedLines& skipped = result->skipped;
  if (skipped.count > 0) {
    FLOG(Warning) << skipped.count << " bad line(s) skipped (--on_bad_line skip: a line that is "
                  << "not UTF-8 is scored as an empty line, a segment without any reference is "
                  << "left out): " << absl::StrJoin(skipped.first, "; ")
                  << (skipped.count > static_cast<int64_t>(skipped.first.size()) ? "; ..." : "");
  }
  return kExitOk;
}

}  // namespace

Subcommand ScoreSubcommand() {
  return {
      "score",
      "sacreBLEU-exact corpus BLEU or chrF of detokenised hypotheses against references",
      "fathom score --hyp FILE --ref FILE [--ref FILE ...] [--metric bleu|chrf] [--tokenize 13a] "
      "[--on_bad_line error|skip]",
      {"hyp", "ref", "metric", "tokenize", "smooth_method", "smooth_value", "max_ngram_order",
       "lowercase", "chrf_word_order", "width", "on_bad_line"},
      RunScore,
      {"ref"}};
}

}  // namespace fathom::launch
