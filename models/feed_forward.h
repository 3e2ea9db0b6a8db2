// Position-wise feed-forward branch: Linear -> ReLU -> dropout -> Linear.
#ifndef FATHOM_MODELS_FEED_FORWARD_H_
#define FATHOM_MODELS_FEED_FORWARD_H_

#include <torch/torch.h>

namespace fathom::models {

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t d_model, int64_t ffn_dim, double activation_dropout);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};

 private:
  double activation_dropout_;
};
TORCH_MODULE(FeedForward);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_FEED_FORWARD_H_
