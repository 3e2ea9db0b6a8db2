// Streams text pairs through SentencePiece on every core: one reader thread fills chunks, N
// workers encode them, and the calling thread hands encoded chunks to a sink in input order.
// At most about `3 * threads + 4` chunks are alive at once (queue, workers, reorder window,
// reader and writer), so memory does not grow with the corpus.
#ifndef FATHOM_PREPARE_ENCODE_PIPELINE_H_
#define FATHOM_PREPARE_ENCODE_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "data/vocabulary.h"
#include "prepare/pair_source.h"

namespace fathom::prepare {

struct EncodedChunk {
  int64_t sequence = 0;  // chunk number, 0-based, in input order
  std::vector<std::vector<int>> source;
  std::vector<std::vector<int>> target;
};

struct EncodeOptions {
  int threads = 1;
  int chunk_pairs = 2048;
};

// Runs until `source` is exhausted or any stage fails; the first error wins and stops all.
absl::Status EncodePairs(PairSource& source, const data::Vocabulary& source_vocab,
                         const data::Vocabulary& target_vocab, const EncodeOptions& options,
                         const std::function<absl::Status(const EncodedChunk&)>& sink);

}  // namespace fathom::prepare

#endif  // FATHOM_PREPARE_ENCODE_PIPELINE_H_
