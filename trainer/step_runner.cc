#include "trainer/step_runner.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "trainer/autocast_scope.h"
#include "trainer/loss.h"

namespace fathom::trainer {

StepOptions StepOptions::FromProto(const proto::RunConfig& config) {
  StepOptions options;
  options.label_smoothing = config.optim().label_smoothing();
  options.clip_norm = config.optim().clip_norm();
  options.bf16_autocast = config.distributed().precision() == proto::DistributedConfig::BF16;
  options.fp16_autocast = config.distributed().precision() == proto::DistributedConfig::FP16;
  options.bucket_bytes = static_cast<int64_t>(config.distributed().bucket_mb() * (1 << 20));
  return options;
}

StepRunner::StepRunner(models::Seq2Seq model, Optimizer* optimizer, comm::Communicator* comm,
                       StepOptions options, LossScaler* scaler)
    : model_(std::move(model)),
      optimizer_(optimizer),
      comm_(comm),
      options_(options),
      scaler_(scaler) {
  reducer_ = std::make_unique<GradReducer>(optimizer_->parameters(), comm_, options_.bucket_bytes);
}

absl::StatusOr<StepStats> StepRunner::Update(const std::vector<DeviceBatch>& micro_batches,
                                             double lr, StopVote vote) {
  if (options_.bf16_autocast && options_.fp16_autocast) {
    return absl::InvalidArgumentError("StepRunner: bf16_autocast and fp16_autocast are exclusive");
  }
  std::optional<torch::ScalarType> autocast;
  if (options_.bf16_autocast) autocast = torch::kBFloat16;
  if (options_.fp16_autocast) autocast = torch::kHalf;
  model_->train();
  optimizer_->ZeroGrad();
  const int64_t pad = model_->options().pad_id;
  const double scale = scaler_ != nullptr ? scaler_->scale() : 1.0;
  // loss, nll, target tokens, source tokens, ranks whose gradients are not finite, ranks
  // signalled, ranks out of time, model FLOPs (models/flops.h).
  torch::Tensor sums = torch::zeros({8}, torch::kDouble);
  sums[5] = vote.signalled ? 1.0 : 0.0;
  sums[6] = vote.out_of_time ? 1.0 : 0.0;
  for (size_t m = 0; m < micro_batches.size(); ++m) {
    const DeviceBatch& batch = micro_batches[m];
    const torch::DeviceType device = batch.source.device().type();
    if (options_.fp16_autocast && device != torch::kCUDA) {
      // Checked before backward, so no rank has started a collective it cannot finish.
      return absl::InvalidArgumentError(absl::StrCat(
          "StepRunner: float16 autocast needs CUDA batches (this one is on ",
          batch.source.device().str(), "; LibTorch has no float16 matrix multiply on CPU)"));
    }
    reducer_->set_sync(m + 1 == micro_batches.size());
    torch::Tensor logits, targets;
    {
      const AutocastScope autocast_scope(device, autocast);
      // Logits only at real target positions: the output layer is the largest matrix multiply,
      // and padding rows would only be masked out of the loss again.
      torch::Tensor memory = model_->Encode(batch.source, batch.relations);
      torch::Tensor hidden = model_->Decode(batch.target_input, memory, batch.source);
      torch::Tensor real = batch.target_output.ne(pad).reshape({-1}).nonzero().squeeze(1);
      logits = model_->Logits(hidden.reshape({-1, hidden.size(-1)}).index_select(0, real));
      targets = batch.target_output.reshape({-1}).index_select(0, real);
    }
    const LossSums loss = LabelSmoothedCrossEntropy(logits, targets, options_.label_smoothing, pad);
    // Sums, not means: normalised once by the global token count after the reduction. The
    // scale is a power of two, so scaling and unscaling change no bits of a float32 gradient.
    if (scale == 1.0) {
      loss.loss.backward();
    } else {
      (loss.loss * scale).backward();
    }
    sums[0] += loss.loss.detach().to(torch::kDouble).cpu();
    sums[1] += loss.nll.to(torch::kDouble).cpu();
    sums[2] += static_cast<double>(batch.target_tokens);
    sums[3] += static_cast<double>(batch.source_tokens);
    sums[7] += models::TrainingFlops(model_->options(), batch.lengths);
  }
  if (micro_batches.empty()) reducer_->set_sync(true);
  RETURN_IF_ERROR(reducer_->Finish());

  // The gradients are the all-ranks sums from here on, the same on every rank. Their norm (one
  // reduction and one host read per update, not one per parameter) says whether they are
  // finite; that verdict travels in the same all-reduce as the loss, so every rank skips or
  // applies together even if ranks computed the norm differently.
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (auto& p : optimizer_->parameters()) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  std::vector<torch::Tensor> norms;
  norms.reserve(grads.size());
  for (const auto& g : grads) norms.push_back(g.norm(2).to(torch::kDouble));
  const double summed_norm = norms.empty() ? 0.0 : torch::stack(norms).norm(2).item<double>();
  sums[4] = std::isfinite(summed_norm) ? 0.0 : 1.0;
  RETURN_IF_ERROR(comm_->AllReduce(sums, comm::ReduceOp::kSum));

  StepStats stats;
  stats.loss_scale = scale;
  const auto s = sums.accessor<double, 1>();
  stats.ranks_signalled = static_cast<int>(s[5]);
  stats.out_of_time = s[6] > 0;
  stats.target_tokens = static_cast<int64_t>(s[2]);
  stats.source_tokens = static_cast<int64_t>(s[3]);
  stats.flops = s[7];
  const double tokens = std::max(1.0, s[2]);
  stats.loss = s[0] / tokens;
  stats.nll = s[1] / tokens;
  // Normalising and unscaling in one division.
  const double divisor = tokens * scale;
  stats.grad_norm = summed_norm / divisor;
  const bool loss_finite = std::isfinite(s[0]);
  const bool grads_finite = s[4] == 0.0;
  if (!loss_finite || !grads_finite) {
    stats.skipped = true;
    // A gradient overflow with a finite loss is the scaler's business; anything else means
    // the model has diverged.
    stats.finite = loss_finite && scaler_ != nullptr;
    if (stats.finite) RETURN_IF_ERROR(scaler_->Update(/*overflow=*/true));
    optimizer_->ZeroGrad();
    return stats;
  }
  double grad_scale = 1.0 / divisor;
  if (options_.clip_norm > 0 && stats.grad_norm > options_.clip_norm) {
    grad_scale *= options_.clip_norm / (stats.grad_norm + 1e-6);
  }
  optimizer_->Step(lr, grad_scale);
  if (scaler_ != nullptr) RETURN_IF_ERROR(scaler_->Update(/*overflow=*/false));
  return stats;
}

}  // namespace fathom::trainer
