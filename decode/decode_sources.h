// Sentences to decode, as piece ids, whatever they came from: lines of text encoded with
// SentencePiece (`fathom translate`, text_sources.h) or a prepared split (validation BLEU,
// shard_sources.h). The decoding path (decode_sentences.h) sees only this interface, so both
// batch, truncate and beam-search the same way.
#ifndef FATHOM_DECODE_DECODE_SOURCES_H_
#define FATHOM_DECODE_DECODE_SOURCES_H_

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace fathom::decode {

// One decoding batch on the host: source [rows, columns] int64, each row its pieces and EOS,
// padded; relations [rows, columns, columns] int64 for a relation-aware model, else undefined.
struct SourceBatch {
  torch::Tensor source;
  torch::Tensor relations;
};

class DecodeSources {
 public:
  virtual ~DecodeSources() = default;
  // Sentences held; they are numbered 0 .. size() - 1.
  virtual int64_t size() const = 0;
  // Pieces of sentence i, EOS excluded, before any truncation.
  virtual int64_t length(int64_t i) const = 0;
  // Sentences `rows` (in that order), each cut to its first width - 1 pieces and EOS: a model
  // knows max_positions positions, and a longer source is cut rather than refused.
  virtual SourceBatch MakeBatch(const std::vector<int64_t>& rows, int64_t width) const = 0;
};

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_DECODE_SOURCES_H_
