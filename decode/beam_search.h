// Batched beam search over a Seq2Seq model, decoding incrementally: the source's cross-attention
// keys and values are computed once and each step feeds one token per hypothesis.
#ifndef FATHOM_EVAL_TRANSLATE_BEAM_SEARCH_H_
#define FATHOM_EVAL_TRANSLATE_BEAM_SEARCH_H_

#include <torch/torch.h>

#include <vector>

#include "models/seq2seq.h"

namespace fathom::eval {

struct BeamOptions {
  int beam = 4;
  int nbest = 1;
  // fairseq's length penalty: a finished hypothesis scores sum(log p) / length^alpha.
  double alpha = 1.0;
  // Output at most max_len_a * source_length + max_len_b pieces (EOS excluded).
  double max_len_a = 1.2;
  int max_len_b = 10;
  int64_t bos = 2, eos = 3, pad = 0;
};

struct Hypothesis {
  std::vector<int> tokens;  // without BOS and EOS
  double score = 0;         // length-normalised log-probability
};

// source [B, S] int64 (padded with options.pad). Returns, per row, up to nbest hypotheses,
// best first.
std::vector<std::vector<Hypothesis>> BeamSearch(models::Seq2SeqImpl& model, const torch::Tensor& source,
                                                const BeamOptions& options,
                                                const torch::Tensor& relations = {});

}  // namespace fathom::eval

#endif  // FATHOM_EVAL_TRANSLATE_BEAM_SEARCH_H_
