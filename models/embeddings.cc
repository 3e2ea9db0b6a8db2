#include "models/embeddings.h"

#include <cmath>

#include "models/dropout.h"

namespace fathom::models {

torch::Tensor SinusoidalPositions(int64_t max_positions, int64_t d_model) {
  torch::Tensor position = torch::arange(max_positions, torch::kFloat).unsqueeze(1);
  torch::Tensor div = torch::exp(torch::arange(0, d_model, 2, torch::kFloat) *
                                 (-std::log(10000.0) / static_cast<double>(d_model)));
  torch::Tensor pe = torch::zeros({max_positions, d_model});
  pe.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, 2)},
                torch::sin(position * div));
  pe.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, torch::indexing::None, 2)},
                torch::cos(position * div).narrow(1, 0, d_model / 2));
  return pe;
}

EmbeddingsImpl::EmbeddingsImpl(int64_t vocab, int64_t embedding_dim, int64_t d_model,
                               int64_t max_positions, bool scale, double dropout, int64_t pad_id)
    : scale_(scale ? std::sqrt(static_cast<double>(d_model)) : 1.0),
      dropout_(dropout),
      pad_id_(pad_id) {
  table = register_parameter("table", torch::zeros({vocab, embedding_dim}));
  if (embedding_dim != d_model) {
    projection = register_module(
        "projection",
        torch::nn::Linear(torch::nn::LinearOptions(embedding_dim, d_model).bias(false)));
  }
  positions = register_buffer("positions", SinusoidalPositions(max_positions, d_model));
}

torch::Tensor EmbeddingsImpl::forward(const torch::Tensor& ids, int64_t offset) {
  // index_select's backward is one vectorised index_add; LibTorch's CPU embedding backward
  // walks the tokens one by one. Zeroing padding rows keeps the pad row's gradient at zero,
  // as embedding's padding_idx would.
  torch::Tensor x =
      table.index_select(0, ids.reshape({-1})).view({ids.size(0), ids.size(1), table.size(1)});
  x = x * ids.ne(pad_id_).unsqueeze(-1).to(x.scalar_type());
  if (projection) x = projection(x);
  x = x * scale_ + positions.narrow(0, offset, ids.size(1)).to(x.scalar_type());
  return Dropout(x, dropout_, is_training());
}

torch::Tensor EmbeddingsImpl::OutputMatrix() { return projection ? projection(table) : table; }

}  // namespace fathom::models
