#include "trainer/step_runner.h"

#include <cmath>

#include <ATen/autocast_mode.h>

#include "trainer/loss.h"

namespace fathom::trainer {

StepRunner::StepRunner(models::Seq2Seq model, Optimizer* optimizer, comm::Communicator* comm,
                       StepOptions options)
    : model_(std::move(model)), optimizer_(optimizer), comm_(comm), options_(options) {
  reducer_ = std::make_unique<GradReducer>(optimizer_->parameters(), comm_, options_.bucket_bytes);
}

absl::StatusOr<StepStats> StepRunner::Update(const std::vector<DeviceBatch>& micro_batches, double lr) {
  model_->train();
  optimizer_->ZeroGrad();
  const int64_t pad = model_->options().pad_id;
  torch::Tensor sums = torch::zeros({4}, torch::kDouble);  // loss, nll, target tokens, source tokens
  for (size_t m = 0; m < micro_batches.size(); ++m) {
    const DeviceBatch& batch = micro_batches[m];
    reducer_->set_sync(m + 1 == micro_batches.size());
    LossSums loss;
    {
      if (options_.bf16_autocast) {
        at::autocast::set_cpu_enabled(true);
        at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      }
      // Logits only at real target positions: the output layer is the largest matrix multiply,
      // and padding rows would only be masked out of the loss again.
      torch::Tensor memory = model_->Encode(batch.source, batch.relations);
      torch::Tensor hidden = model_->Decode(batch.target_input, memory, batch.source);
      torch::Tensor real = batch.target_output.ne(pad).reshape({-1}).nonzero().squeeze(1);
      torch::Tensor logits = model_->Logits(hidden.reshape({-1, hidden.size(-1)}).index_select(0, real));
      torch::Tensor targets = batch.target_output.reshape({-1}).index_select(0, real);
      if (options_.bf16_autocast) {
        at::autocast::set_cpu_enabled(false);
        at::autocast::clear_cache();
      }
      loss = LabelSmoothedCrossEntropy(logits, targets, options_.label_smoothing, pad);
    }
    // Sums, not means: normalised once by the global token count after the reduction.
    loss.loss.backward();
    sums[0] += loss.loss.detach().to(torch::kDouble).cpu();
    sums[1] += loss.nll.to(torch::kDouble).cpu();
    sums[2] += static_cast<double>(batch.target_tokens);
    sums[3] += static_cast<double>(batch.source_tokens);
  }
  if (micro_batches.empty()) reducer_->set_sync(true);
  absl::Status reduced = reducer_->Finish();
  if (!reduced.ok()) return reduced;
  reduced = comm_->AllReduce(sums, comm::ReduceOp::kSum);
  if (!reduced.ok()) return reduced;

  StepStats stats;
  const auto s = sums.accessor<double, 1>();
  stats.target_tokens = static_cast<int64_t>(s[2]);
  stats.source_tokens = static_cast<int64_t>(s[3]);
  const double tokens = std::max(1.0, s[2]);
  stats.loss = s[0] / tokens;
  stats.nll = s[1] / tokens;
  // The summed loss is the same number on every rank, so this decision is too.
  stats.finite = std::isfinite(s[0]);
  if (!stats.finite) {
    optimizer_->ZeroGrad();
    return stats;
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (auto& p : optimizer_->parameters()) {
    if (!p.grad().defined()) continue;
    p.mutable_grad().div_(tokens);
    grads.push_back(p.grad());
  }
  // One reduction and one host read per update, not one per parameter.
  std::vector<torch::Tensor> norms;
  norms.reserve(grads.size());
  for (const auto& g : grads) norms.push_back(g.norm(2).to(torch::kDouble));
  stats.grad_norm = norms.empty() ? 0.0 : torch::stack(norms).norm(2).item<double>();
  if (options_.clip_norm > 0 && stats.grad_norm > options_.clip_norm) {
    const double factor = options_.clip_norm / (stats.grad_norm + 1e-6);
    for (auto& g : grads) g.mul_(factor);
  }
  optimizer_->Step(lr);
  return stats;
}

}  // namespace fathom::trainer
