// Translates lines of text with a loaded model: SentencePiece encode, inputs sorted by length
// into token batches, beam search, decode, outputs back in input order.
#ifndef FATHOM_EVAL_TRANSLATE_TRANSLATOR_H_
#define FATHOM_EVAL_TRANSLATE_TRANSLATOR_H_

#include <functional>
#include <string>
#include <vector>

#include "eval/translate/beam_search.h"
#include "eval/translate/model_loader.h"

namespace fathom::eval {

struct TranslateOptions {
  BeamOptions beam;
  int64_t max_tokens = 4096;  // source pieces per batch, padding included
};

// Called after each batch with (sentences done, sentences total).
using Progress = std::function<void(int64_t, int64_t)>;

// Returns, per input line, its nbest translations (best first).
std::vector<std::vector<std::string>> Translate(InferenceModel& model, const std::vector<std::string>& lines,
                                                const TranslateOptions& options, const Progress& progress = nullptr);

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_TRANSLATE_TRANSLATOR_H_
