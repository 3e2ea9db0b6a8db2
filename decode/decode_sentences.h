// The one decoding path: sentences planned into token batches (decode_batches.h), each batch
// beam-searched on the device the model's parameters are on. `fathom translate` and validation
// BLEU during training both come through here (distributed_decode.h shares the sentences among
// ranks), so they cut the same batches and get the same hypotheses.
#ifndef FATHOM_DECODE_DECODE_SENTENCES_H_
#define FATHOM_DECODE_DECODE_SENTENCES_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/types/span.h"
#include "decode/beam_search.h"
#include "decode/decode_sources.h"
#include "models/seq2seq.h"

namespace fathom::decode {

struct DecodeOptions {
  BeamOptions beam;           // its special ids must be the target vocabulary's
  int64_t max_tokens = 4096;  // source pieces per batch, padding and beams included
};

// Called after each batch with (sentences done, sentences total).
using Progress = std::function<void(int64_t, int64_t)>;

// Beam-searches `sentences` (numbers into `sources`) and returns, in the same order, each one's
// hypotheses (up to nbest, best first; empty when none finished). Batches are cut from the
// sentences in the order given, so that order is part of the result. An empty source is not
// decoded: its one hypothesis is empty. Sources longer than the model's max_positions keep their
// first max_positions - 1 pieces, and one warning counts them; outputs stop within the model's
// positions too (MaxOutputLength). No gradients; the model's train/eval mode is restored.
std::vector<std::vector<Hypothesis>> DecodeSentences(models::Seq2SeqImpl& model,
                                                     const DecodeSources& sources,
                                                     absl::Span<const int64_t> sentences,
                                                     const DecodeOptions& options,
                                                     const Progress& progress = nullptr);

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_DECODE_SENTENCES_H_
