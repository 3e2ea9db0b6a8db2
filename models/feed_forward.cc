#include "models/feed_forward.h"

#include "models/dropout.h"

namespace fathom::models {

FeedForwardImpl::FeedForwardImpl(int64_t d_model, int64_t ffn_dim, double activation_dropout)
    : activation_dropout_(activation_dropout) {
  fc1 = register_module("fc1", torch::nn::Linear(d_model, ffn_dim));
  fc2 = register_module("fc2", torch::nn::Linear(ffn_dim, d_model));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = torch::relu(fc1(x));
  h = Dropout(h, activation_dropout_, is_training());
  return fc2(h);
}

}  // namespace fathom::models
