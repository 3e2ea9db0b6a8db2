// `fathom score`'s inputs: ScoreFiles on a fuzzed hypothesis file and one to three reference
// files with fuzzed options (BLEU or chrF, every tokeniser, smoothing, orders, --on_bad_line),
// and the four tokenisers on each valid line of the hypotheses.
//
// Input: three option bytes, then the files separated by tests/fuzz/fuzz_util.h's
// kTextSeparator: hypotheses, then references (a single part is scored against itself).
//   byte 0: bit 0 chrF (else BLEU), bits 1-2 tokeniser (13a, intl, char, none), bit 3 lowercase,
//           bits 4-5 smoothing (exp, floor, add-k, none), bit 6 --on_bad_line skip, bit 7 BLEU's
//           effective order;
//   byte 1: bits 0-2 max_ngram_order - 1 (-1..6), bits 3-4 chrF word order + 1 (-1..2),
//           bits 5-7 width + 1 (-1..6): the values `fathom score`'s flags let through;
//   byte 2: bit 0 chrF whitespace, bit 1 chrF eps smoothing, bits 2-7 the smoothing value in
//           eighths (63: the default).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_split.h"
#include "eval/bleu/python_text.h"
#include "eval/bleu/score_files.h"
#include "eval/bleu/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fuzz = fathom::fuzz;
  namespace eval = fathom::eval;
  if (size < 3) return 0;
  constexpr eval::Tokenizer kTokenizers[] = {eval::Tokenizer::k13a, eval::Tokenizer::kIntl,
                                             eval::Tokenizer::kChar, eval::Tokenizer::kNone};
  constexpr eval::Smoothing kSmoothings[] = {eval::Smoothing::kExp, eval::Smoothing::kFloor,
                                             eval::Smoothing::kAddK, eval::Smoothing::kNone};
  eval::ScoreOptions options;
  options.metric = (data[0] & 1) ? eval::Metric::kChrf : eval::Metric::kBleu;
  options.bleu.tokenizer = kTokenizers[(data[0] >> 1) & 3];
  options.bleu.lowercase = options.chrf.lowercase = (data[0] >> 3) & 1;
  options.bleu.smooth_method = kSmoothings[(data[0] >> 4) & 3];
  options.skip_bad_lines = (data[0] >> 6) & 1;
  options.bleu.effective_order = (data[0] >> 7) & 1;
  options.bleu.max_ngram_order = (data[1] & 7) - 1;
  options.chrf.word_order = ((data[1] >> 3) & 3) - 1;
  options.width = (data[1] >> 5) - 1;
  options.chrf.whitespace = data[2] & 1;
  options.chrf.eps_smoothing = (data[2] >> 1) & 1;
  if ((data[2] >> 2) != 63) options.bleu.smooth_value = (data[2] >> 2) / 8.0;

  const std::vector<std::string_view> parts =
      fuzz::SplitText({reinterpret_cast<const char*>(data) + 3, size - 3}, 4);
  static const std::string hyp_path = fuzz::ScratchPath("hyp.txt");
  fuzz::WriteFileOrDie(hyp_path, parts[0]);
  std::vector<std::string> ref_paths;
  for (size_t k = parts.size() == 1 ? 0 : 1; k < parts.size(); ++k) {
    ref_paths.push_back(fuzz::ScratchPath("ref" + std::to_string(k) + ".txt"));
    fuzz::WriteFileOrDie(ref_paths.back(), parts[k]);
  }
  auto result = eval::ScoreFiles(hyp_path, ref_paths, options);
  size_t sum = result.ok() ? result->line.size() + result->signature.size() : 0;

  for (absl::string_view line :
       absl::StrSplit(absl::string_view(parts[0].data(), parts[0].size()), '\n')) {
    size_t bad = 0;
    if (!eval::IsValidUtf8(line, &bad)) continue;
    for (eval::Tokenizer tokenizer : kTokenizers) {
      sum += eval::TokenizeToString(tokenizer, eval::PythonRstrip(line)).size();
    }
  }
  return sum == 1 ? 1 : 0;
}
