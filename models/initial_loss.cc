#include "models/initial_loss.h"

#include <cmath>

#include "models/embeddings.h"

namespace fathom::models {

InitialLoss EstimateInitialLoss(Seq2SeqImpl& model, const torch::Tensor& source,
                                const torch::Tensor& target_input,
                                const torch::Tensor& target_output,
                                const torch::Tensor& relations) {
  const bool was_training = model.is_training();
  model.eval();
  torch::NoGradGuard no_grad;
  const int64_t vocab = model.options().target_vocab;
  torch::Tensor logits = model.forward(source, target_input, relations).to(torch::kFloat);
  torch::Tensor targets = target_output.reshape({-1});
  logits = logits.reshape({-1, vocab});
  const double loss =
      torch::nn::functional::cross_entropy(
          logits, targets,
          torch::nn::functional::CrossEntropyFuncOptions().ignore_index(model.options().pad_id))
          .item<double>();
  torch::Tensor real = targets.ne(model.options().pad_id);
  const double variance =
      real.any().item<bool>() ? logits.index({real}).var(1).mean().item<double>() : 0.0;
  model.train(was_training);
  return {loss, std::log(static_cast<double>(vocab)), variance};
}

double PredictedTiedInitialLoss(int64_t d_model, int64_t vocab, int64_t positions) {
  const torch::Tensor v =
      SinusoidalPositions(positions, d_model).to(torch::kDouble).var(1, /*unbiased=*/false);
  const torch::Tensor own = torch::sqrt(static_cast<double>(d_model) / (1.0 + v));
  // log(e^own + (V - 1) e^(1/2)) without overflow.
  const torch::Tensor others =
      torch::full_like(own, std::log(static_cast<double>(vocab - 1)) + 0.5);
  return torch::logaddexp(own, others).mean().item<double>();
}

}  // namespace fathom::models
