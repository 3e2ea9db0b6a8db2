// Translates lines of text with a loaded model: SentencePiece encode, inputs sorted by length
// into token batches, beam search, decode, outputs back in input order.
#ifndef FATHOM_DECODE_TRANSLATOR_H_
#define FATHOM_DECODE_TRANSLATOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "data/batch.h"
#include "decode/beam_search.h"
#include "decode/decode_sentences.h"
#include "decode/decode_sources.h"
#include "decode/model_loader.h"

namespace fathom::decode {

// Beam size, length penalty and limits; the special ids are taken from the model's target
// vocabulary.
using TranslateOptions = DecodeOptions;

// Returns, per input line, its nbest translations (best first; one empty string when no
// hypothesis finished). One process, on the device the model is on.
std::vector<std::vector<std::string>> Translate(InferenceModel& model,
                                                const std::vector<std::string>& lines,
                                                const TranslateOptions& options,
                                                const Progress& progress = nullptr);

// The same on every rank of `comm`, each rank decoding its share (distributed_decode.h) on the
// device its model is on: every rank returns every line's translations, in input order.
// `progress` counts this rank's share. Every rank must call it with the same lines. Errors are
// the communicator's.
absl::StatusOr<std::vector<std::vector<std::string>>> DistributedTranslate(
    InferenceModel& model, const std::vector<std::string>& lines, const TranslateOptions& options,
    comm::Communicator& comm, const Progress& progress = nullptr);

// The same for sources encoded already (text-to-SQL questions with their schemas and relations,
// sql_sources.h): every rank decodes its share through DecodeRankShare and returns every source's
// detokenised hypotheses, in source order. `sources` must use the target vocabulary's pad and EOS
// ids (SpecialIdsOf).
absl::StatusOr<std::vector<std::vector<std::string>>> DistributedTranslateSources(
    InferenceModel& model, const DecodeSources& sources, const TranslateOptions& options,
    comm::Communicator& comm, const Progress& progress = nullptr);

// The pad, BOS and EOS ids decoding batches use: the target vocabulary's, as in training.
data::SpecialIds SpecialIdsOf(const InferenceModel& model);

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_TRANSLATOR_H_
