// Batched beam search over a Seq2Seq model, decoding incrementally: the source's cross-attention
// keys and values are computed once and each step feeds one token per hypothesis.
#ifndef FATHOM_DECODE_BEAM_SEARCH_H_
#define FATHOM_DECODE_BEAM_SEARCH_H_

#include <torch/torch.h>

#include <vector>

#include "models/seq2seq.h"

namespace fathom::decode {

struct BeamOptions {
  int beam = 4;
  int nbest = 1;
  // fairseq's length penalty: a finished hypothesis scores sum(log p) / length^alpha.
  double alpha = 1.0;
  // Output at most max_len_a * source_length + max_len_b pieces (EOS excluded), and never more
  // than the model's positions hold (MaxOutputLength).
  double max_len_a = 1.2;
  int max_len_b = 10;
  int64_t bos = 2, eos = 3, pad = 0;
};

struct Hypothesis {
  std::vector<int> tokens;  // without BOS and EOS
  double score = 0;         // length-normalised log-probability
};

// The most pieces beam search outputs for a source of `source_length` pieces (EOS excluded):
// max_len_a * source_length + max_len_b, at least 0, capped at max_positions - 1. The decoder
// is fed BOS at position 0 and output piece i at position i, and the step that picks EOS after
// the last piece feeds that piece: with more than max_positions - 1 pieces it would index past
// the model's position table (a LibTorch error that used to end the whole job).
int64_t MaxOutputLength(int64_t source_length, const BeamOptions& options, int64_t max_positions);

// source [B, S] int64 (padded with options.pad). Returns, per row, up to nbest hypotheses,
// best first.
std::vector<std::vector<Hypothesis>> BeamSearch(models::Seq2SeqImpl& model,
                                                const torch::Tensor& source,
                                                const BeamOptions& options,
                                                const torch::Tensor& relations = {});

}  // namespace fathom::decode

#endif  // FATHOM_DECODE_BEAM_SEARCH_H_
