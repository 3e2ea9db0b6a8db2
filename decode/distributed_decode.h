// Decoding on R ranks: how the sentences are shared, for `fathom translate` under mpirun and
// for validation BLEU during training alike. Rank r takes sentences r, r + R, r + 2R, ...: equal
// counts (within one), every rank a mix of short and long, and no plan to agree on. Each rank
// decodes its share through DecodeSentences; the callers then gather text
// (DistributedTranslate, translator.h) or reduce BLEU statistics (ValidationBleu::DecodeSplit).
#ifndef FATHOM_DECODE_DISTRIBUTED_DECODE_H_
#define FATHOM_DECODE_DISTRIBUTED_DECODE_H_

#include <cstdint>
#include <vector>

#include "comm/communicator.h"
#include "decode/decode_sentences.h"

namespace fathom::decode {

// The numbers of the sentences rank `rank` of `size` decodes, ascending.
std::vector<int64_t> RankShare(int64_t sentences, int rank, int size);

struct RankDecoded {
  std::vector<int64_t> sentences;                   // RankShare of this rank
  std::vector<std::vector<Hypothesis>> hypotheses;  // per sentence, as DecodeSentences
};

// Decodes this rank's share of `sources` with `model` on its device. Communicates nothing (the
// communicator only says which rank this is), so ranks that finish early do not wait here.
RankDecoded DecodeRankShare(models::Seq2SeqImpl& model, const DecodeSources& sources,
                            const DecodeOptions& options, const comm::Communicator& comm,
                            const Progress& progress = nullptr);

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_DISTRIBUTED_DECODE_H_
