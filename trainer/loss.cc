#include "trainer/loss.h"

#include "kernels/kernels_built.h"
#include "kernels/label_smoothed_cross_entropy.h"

namespace fathom::trainer {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Fused forward and backward: the gradient with respect to the logits is
//   softmax(z) - (1 - eps) onehot(y) - eps / V,
// written in one pass over [N, V] instead of autograd's chain through log_softmax, gather and
// sum, each of which reads or writes the whole [N, V] again.
struct SmoothedCrossEntropy : public torch::autograd::Function<SmoothedCrossEntropy> {
  // Returns [2]: sum of the smoothed loss, sum of the nll (the second gets no gradient).
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& logits,
                               const torch::Tensor& targets, double smoothing, int64_t pad) {
    const double vocab = static_cast<double>(logits.size(1));
    torch::Tensor lse = logits.logsumexp(1);
    torch::Tensor keep = targets.ne(pad).to(logits.scalar_type());
    torch::Tensor safe_targets = targets.masked_fill(targets.eq(pad), 0).unsqueeze(1);
    torch::Tensor nll = (lse - logits.gather(1, safe_targets).squeeze(1)) * keep;
    torch::Tensor smooth = (lse * vocab - logits.sum(1)) * keep;
    torch::Tensor loss = (1.0 - smoothing) * nll + (smoothing / vocab) * smooth;
    ctx->save_for_backward({logits, safe_targets, lse, keep});
    ctx->saved_data["smoothing"] = smoothing;
    return torch::stack({loss.sum(), nll.sum()});
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& logits = saved[0];
    const double smoothing = ctx->saved_data["smoothing"].toDouble();
    const double vocab = static_cast<double>(logits.size(1));
    torch::Tensor grad = (logits - saved[2].unsqueeze(1)).exp_();
    grad.sub_(smoothing / vocab);
    grad.scatter_add_(1, saved[1], torch::full_like(saved[1], -(1.0 - smoothing), grad.options()));
    grad.mul_((saved[3] * grad_outputs[0][0]).unsqueeze(1));
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

LossSums LabelSmoothedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets,
                                   double smoothing, int64_t pad, bool fused) {
  const int64_t vocab = logits.size(-1);
  if (fused && logits.is_cuda() && kernels::CudaKernelsBuilt()) {
    const torch::Tensor rows = logits.reshape({-1, vocab}), flat_targets = targets.reshape({-1});
    if (kernels::CrossEntropyKernelApplies(rows, flat_targets)) {
      torch::Tensor sums = kernels::LabelSmoothedCrossEntropy(rows, flat_targets, smoothing, pad);
      return {sums[0], sums[1].detach()};
    }
  }
  torch::Tensor sums = SmoothedCrossEntropy::apply(logits.to(torch::kFloat).reshape({-1, vocab}),
                                                   targets.reshape({-1}), smoothing, pad);
  return {sums[0], sums[1].detach()};
}

}  // namespace fathom::trainer
