// The encoder-decoder Transformer. Knows nothing of ranks or files: data-dependent
// initialisation passes get what they need as arguments (see initialisation.h).
#ifndef FATHOM_MODELS_SEQ2SEQ_H_
#define FATHOM_MODELS_SEQ2SEQ_H_

#include <torch/torch.h>

#include "models/embeddings.h"
#include "models/model_options.h"
#include "models/transformer_stack.h"

namespace fathom::models {

class Seq2SeqImpl : public torch::nn::Module {
 public:
  explicit Seq2SeqImpl(const ModelOptions& options);

  // "The input to the main transformer": embedded source / target before the first layer.
  // DT-Fixup's data pass takes the largest norm of these over the training set.
  torch::Tensor EncoderInput(const torch::Tensor& source);
  torch::Tensor DecoderInput(const torch::Tensor& target_input);

  // source [B, S] int64; relations [B, S, S] int64 or undefined. Returns memory [B, S, d]. The
  // stacks run in ModelOptions::token_layout's layout: the values at padding positions are zero
  // (packed) or finite and meaningless (padded); consumers mask them.
  torch::Tensor Encode(const torch::Tensor& source, const torch::Tensor& relations = {},
                       AdminProfile* profile = nullptr);
  // Returns the decoder's last hidden states [B, T, d]. right_aligned_targets: every row of
  // target_input is padded on the right only (data::MakeBatch's batches are), a promise that
  // spares the padded layout's causal self-attention its padding mask (DecoderImpl::forward).
  torch::Tensor Decode(const torch::Tensor& target_input, const torch::Tensor& memory,
                       const torch::Tensor& source, AdminProfile* profile = nullptr,
                       bool right_aligned_targets = false);
  // Incremental decoding (beam search): StartDecoding caches the source side; each
  // DecodeStep feeds one token per row [N] and returns the last hidden state [N, d].
  DecoderCache StartDecoding(const torch::Tensor& memory, const torch::Tensor& source);
  torch::Tensor DecodeStep(const torch::Tensor& tokens, DecoderCache& cache);
  // Hidden states -> logits [B, T, V], with the tied-output remedy if configured.
  torch::Tensor Logits(const torch::Tensor& hidden);
  torch::Tensor forward(const torch::Tensor& source, const torch::Tensor& target_input,
                        const torch::Tensor& relations = {});

  const ModelOptions& options() const { return options_; }
  Embeddings source_embeddings{nullptr};
  Embeddings target_embeddings{nullptr};  // the same module as source_embeddings under TIE_ALL
  Encoder encoder{nullptr};
  Decoder decoder{nullptr};
  torch::Tensor output_matrix;                   // [V, d] when the output is untied
  torch::nn::Linear output_projection{nullptr};  // ORTHOGONAL_PROJECTION remedy

 private:
  ModelOptions options_;
};
TORCH_MODULE(Seq2Seq);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_SEQ2SEQ_H_
