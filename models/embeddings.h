// Token embeddings plus sinusoidal positions: dropout(scale * E[ids] (projected to d_model when
// the table is narrower, as pre-trained vectors may be) + P[0..T)).
#ifndef FATHOM_MODELS_EMBEDDINGS_H_
#define FATHOM_MODELS_EMBEDDINGS_H_

#include <torch/torch.h>

namespace fathom::models {

// Vaswani et al. positions: PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(...).
torch::Tensor SinusoidalPositions(int64_t max_positions, int64_t d_model);

class EmbeddingsImpl : public torch::nn::Module {
 public:
  EmbeddingsImpl(int64_t vocab, int64_t embedding_dim, int64_t d_model, int64_t max_positions,
                 bool scale, double dropout, int64_t pad_id);
  // ids [B, T] int64 -> [B, T, d_model]; positions start at `offset` (incremental decoding).
  torch::Tensor forward(const torch::Tensor& ids, int64_t offset = 0);
  // The table as seen in d_model space (projected if needed): the tied output matrix [V, d].
  torch::Tensor OutputMatrix();

  torch::Tensor table;                    // [V, embedding_dim]
  torch::nn::Linear projection{nullptr};  // embedding_dim -> d_model, when they differ
  torch::Tensor positions;                // buffer [max_positions, d_model]
  double scale() const { return scale_; }
  int64_t pad_id() const { return pad_id_; }

 private:
  double scale_;
  double dropout_;
  int64_t pad_id_;
};
TORCH_MODULE(Embeddings);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_EMBEDDINGS_H_
