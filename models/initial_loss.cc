#include "models/initial_loss.h"

#include <cmath>

namespace fathom::models {

InitialLoss EstimateInitialLoss(Seq2SeqImpl& model, const torch::Tensor& source,
                                const torch::Tensor& target_input,
                                const torch::Tensor& target_output,
                                const torch::Tensor& relations) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const int64_t vocab = model.options().target_vocab;
  torch::Tensor logits = model.forward(source, target_input, relations);
  const double loss =
      torch::nn::functional::cross_entropy(
          logits.to(torch::kFloat).reshape({-1, vocab}), target_output.reshape({-1}),
          torch::nn::functional::CrossEntropyFuncOptions().ignore_index(model.options().pad_id))
          .item<double>();
  model.train(was_training);
  return {loss, std::log(static_cast<double>(vocab))};
}

}  // namespace fathom::models
