// How sentences are grouped for batched beam search, shared by `fathom translate` and validation
// BLEU during training so that both decode the same sentences in the same batches (padding
// changes floating-point sums, and with them, rarely, a hypothesis).
#ifndef FATHOM_DECODE_DECODE_BATCHES_H_
#define FATHOM_DECODE_DECODE_BATCHES_H_

#include <cstdint>
#include <vector>

namespace fathom::decode {

// `source_lengths[i]`: pieces of sentence i without EOS. Sentences are stable-sorted by length
// and cut greedily so that rows * (longest + EOS) stays within max_tokens / beam (beams multiply
// the decoder's rows); a sentence longer than that budget goes alone. Returns the batches as
// positions into `source_lengths`, shortest first.
std::vector<std::vector<int64_t>> PlanDecodeBatches(const std::vector<int64_t>& source_lengths,
                                                    int beam, int64_t max_tokens);

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_DECODE_BATCHES_H_
