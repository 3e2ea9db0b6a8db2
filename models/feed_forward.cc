#include "models/feed_forward.h"

namespace fathom::models {

FeedForwardImpl::FeedForwardImpl(int64_t d_model, int64_t ffn_dim, double activation_dropout)
    : activation_dropout_(activation_dropout) {
  fc1 = register_module("fc1", torch::nn::Linear(d_model, ffn_dim));
  fc2 = register_module("fc2", torch::nn::Linear(ffn_dim, d_model));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = torch::relu(fc1(x));
  if (is_training() && activation_dropout_ > 0) h = torch::dropout(h, activation_dropout_, true);
  return fc2(h);
}

}  // namespace fathom::models
