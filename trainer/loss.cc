#include "trainer/loss.h"

namespace fathom::trainer {

LossSums LabelSmoothedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                   double smoothing, int64_t pad) {
  const int64_t vocab = logits.size(-1);
  torch::Tensor log_probs = torch::log_softmax(logits.to(torch::kFloat).reshape({-1, vocab}), -1);
  torch::Tensor flat = targets.reshape({-1});
  torch::Tensor keep = flat.ne(pad);
  torch::Tensor nll = -log_probs.gather(1, flat.unsqueeze(1)).squeeze(1);
  torch::Tensor smooth = -log_probs.sum(1);
  torch::Tensor per_token = (1.0 - smoothing) * nll + (smoothing / static_cast<double>(vocab)) * smooth;
  const torch::Tensor mask = keep.to(torch::kFloat);
  LossSums sums;
  sums.loss = (per_token * mask).sum();
  sums.nll = (nll * mask).sum().detach();
  return sums;
}

}  // namespace fathom::trainer
