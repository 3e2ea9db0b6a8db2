#include "trainer/step_runner.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "trainer/autocast_scope.h"
#include "trainer/loss.h"

namespace fathom::trainer {
namespace {

// The per-update stats tensor, reduced over the ranks (float64, on the training device).
enum Reduced : int64_t {
  kLoss,            // loss sum
  kNll,             // nll sum
  kTargetTokens,    // real target tokens
  kSourceTokens,    // real source tokens
  kNonFiniteGrads,  // ranks whose gradient norm is not finite
  kSignalled,       // ranks signalled
  kOutOfTime,       // ranks out of time
  kFlops,           // model FLOPs (models/flops.h)
  kReducedSlots,
};

// The window: sums over the updates since the last read, apart from the slots marked `last`.
// Its first kReducedSlots slots are Reduced's, except kSkipped in place of kNonFiniteGrads.
enum Window : int64_t {
  kSkipped = kNonFiniteGrads,      // updates not applied (found_inf)
  kLossNonFinite = kReducedSlots,  // updates whose loss sum was not finite
  kUpdateLoss,                     // sum of each update's per-token loss
  kUpdateNll,                      // sum of each update's per-token nll
  kGradNorm,                       // last: the last update's norm (unscaled, unclipped)
  kWindowSlots,
};

// `values` as a float64 tensor on `device` without the host waiting for it: on CUDA through
// pinned memory and an asynchronous copy (LibTorch's caching host allocator keeps the buffer
// until the copy has run).
torch::Tensor HostValues(const std::vector<double>& values, const torch::Device& device) {
  torch::Tensor host = torch::tensor(values, torch::kDouble);
  if (!device.is_cuda()) return host;
  return host.pin_memory().to(device, /*non_blocking=*/true);
}

// The L2 norm of all gradients together, as a float64 scalar on their device; never read here.
// On CUDA one multi-tensor kernel computes the per-gradient norms; on the CPU, where
// _foreach_norm is a loop over the same per-tensor norms, they are computed one by one as they
// always were (so CPU results keep their bits).
torch::Tensor GlobalNorm(const std::vector<torch::Tensor>& grads, const torch::Device& device) {
  if (grads.empty()) return torch::zeros({}, torch::dtype(torch::kDouble).device(device));
  std::vector<torch::Tensor> norms;
  if (device.is_cuda()) {
    norms = torch::_foreach_norm(grads, 2);
  } else {
    norms.reserve(grads.size());
    for (const auto& g : grads) norms.push_back(g.norm(2));
  }
  // Each norm float32 (a no-op for float32 gradients), stacked, then the norm of the norms in
  // float64: one conversion for all, and the same values as converting each.
  for (auto& n : norms) n = n.to(torch::kFloat);
  return torch::stack(norms).to(torch::kDouble).norm(2);
}

}  // namespace

StepOptions StepOptions::FromProto(const proto::RunConfig& config, const torch::Device& device) {
  StepOptions options;
  options.label_smoothing = config.optim().label_smoothing();
  options.clip_norm = config.optim().clip_norm();
  options.bf16_autocast = config.distributed().precision() == proto::DistributedConfig::BF16;
  options.fp16_autocast = config.distributed().precision() == proto::DistributedConfig::FP16;
  options.bucket_bytes = static_cast<int64_t>(config.distributed().bucket_mb() * (1 << 20));
  options.fused_kernels = config.distributed().fused_kernels();
  options.device_ordered_reductions = config.distributed().timeout_seconds() == 0;
  options.read_every = device.is_cuda() && !options.fp16_autocast
                           ? std::max<int64_t>(1, config.eval().log_every_steps())
                           : 1;
  return options;
}

StepRunner::StepRunner(models::Seq2Seq model, Optimizer* optimizer, comm::Communicator* comm,
                       StepOptions options, LossScaler* scaler)
    : model_(std::move(model)),
      optimizer_(optimizer),
      comm_(comm),
      options_(options),
      scaler_(scaler),
      device_(optimizer->parameters().empty() ? torch::Device(torch::kCPU)
                                              : optimizer->parameters().front().device()) {
  reducer_ = std::make_unique<GradReducer>(optimizer_->parameters(), comm_, options_.bucket_bytes);
  reducer_->set_device_ordered(options_.device_ordered_reductions || comm_->size() == 1);
  window_ = torch::zeros({kWindowSlots}, torch::dtype(torch::kDouble).device(device_));
  last_value_slots_ = torch::zeros({kWindowSlots}, torch::dtype(torch::kBool));
  for (int64_t slot : {int64_t{kSignalled}, int64_t{kOutOfTime}, int64_t{kGradNorm}}) {
    last_value_slots_[slot] = true;
  }
  last_value_slots_ = last_value_slots_.to(device_);
}

absl::Status StepRunner::set_read_every(int64_t updates) {
  if (updates < 1 || (scaler_ != nullptr && updates != 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("StepRunner: read_every must be >= 1, and 1 with float16 loss scaling (got ",
                     updates, ")"));
  }
  options_.read_every = updates;
  return absl::OkStatus();
}

absl::Status StepRunner::Update(const std::vector<DeviceBatch>& micro_batches, double lr,
                                StopVote vote) {
  if (options_.bf16_autocast && options_.fp16_autocast) {
    return absl::InvalidArgumentError("StepRunner: bf16_autocast and fp16_autocast are exclusive");
  }
  if (scaler_ != nullptr && (pending_ > 0 || options_.read_every != 1)) {
    // The next update's loss scale depends on whether this one overflowed.
    return absl::FailedPreconditionError(
        "StepRunner: with float16 loss scaling every update must be read before the next");
  }
  std::optional<torch::ScalarType> autocast;
  if (options_.bf16_autocast) autocast = torch::kBFloat16;
  if (options_.fp16_autocast) autocast = torch::kHalf;
  model_->train();
  optimizer_->ZeroGrad();
  const int64_t pad = model_->options().pad_id;
  const double scale = scaler_ != nullptr ? scaler_->scale() : 1.0;
  // What the host knows (Reduced's slots) goes to the device in one copy; the loss sums are
  // added there.
  std::vector<double> known(kReducedSlots, 0.0);
  known[kSignalled] = vote.signalled ? 1.0 : 0.0;
  known[kOutOfTime] = vote.out_of_time ? 1.0 : 0.0;
  std::vector<LossSums> losses;
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
      torch::Tensor memory = model_->Encode(batch.source, batch.relations);
      // Training batches (data::MakeBatch) pad targets on the right only, which lets the
      // padded layout's causal self-attention run without a mask (the fused causal kernels).
      torch::Tensor hidden = model_->Decode(batch.target_input, memory, batch.source,
                                            /*profile=*/nullptr, /*right_aligned_targets=*/true);
      hidden = hidden.reshape({-1, hidden.size(-1)});
      targets = batch.target_output.reshape({-1});
      if (device == torch::kCUDA) {
        // Every position: choosing the real ones would need nonzero(), a wait for the device;
        // the loss ignores pad targets.
        logits = model_->Logits(hidden);
      } else {
        // Logits only at real target positions: the output layer is the largest matrix
        // multiply, and padding rows would only be masked out of the loss again.
        torch::Tensor real = targets.ne(pad).nonzero().squeeze(1);
        logits = model_->Logits(hidden.index_select(0, real));
        targets = targets.index_select(0, real);
      }
    }
    const LossSums loss = LabelSmoothedCrossEntropy(logits, targets, options_.label_smoothing, pad,
                                                    options_.fused_kernels);
    // Sums, not means: normalised once by the global token count after the reduction. The
    // scale is a power of two, so scaling and unscaling change no bits of a float32 gradient.
    if (scale == 1.0) {
      loss.loss.backward();
    } else {
      (loss.loss * scale).backward();
    }
    losses.push_back({loss.loss.detach(), loss.nll});
    known[kTargetTokens] += static_cast<double>(batch.target_tokens);
    known[kSourceTokens] += static_cast<double>(batch.source_tokens);
    known[kFlops] += models::TrainingFlops(model_->options(), batch.lengths);
  }
  if (micro_batches.empty()) reducer_->set_sync(true);
  RETURN_IF_ERROR(reducer_->Finish());

  torch::NoGradGuard no_grad;
  torch::Tensor sums = HostValues(known, device_);
  torch::Tensor loss_sums = sums.narrow(0, kLoss, 2);
  for (const LossSums& l : losses) loss_sums += torch::stack({l.loss, l.nll}).to(torch::kDouble);
  // The gradients are the all-ranks sums from here on, the same on every rank. Their norm says
  // whether they are finite; that verdict travels in the same all-reduce as the loss, so every
  // rank skips or applies together even if ranks computed the norm differently.
  std::vector<torch::Tensor> grads;
  for (auto& p : optimizer_->parameters()) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  const torch::Tensor summed_norm = GlobalNorm(grads, device_);
  sums[kNonFiniteGrads].copy_(torch::isfinite(summed_norm).logical_not());
  // Device-ordered (StepOptions::device_ordered_reductions): Read() then waits, with the
  // collective deadline, before it copies anything back.
  last_reduction_ = comm_->AllReduceAsync(sums, comm::ReduceOp::kSum);
  if (options_.device_ordered_reductions || comm_->size() == 1) {
    RETURN_IF_ERROR(last_reduction_->WaitOnDevice());
  } else {
    RETURN_IF_ERROR(last_reduction_->Wait());
  }

  // Normalising and unscaling in one division, clipping folded in: the arithmetic the host did
  // in float64 when it read every update, now on the device.
  const torch::Tensor tokens = sums[kTargetTokens].clamp_min(1.0);
  const torch::Tensor divisor = tokens * scale;
  const torch::Tensor grad_norm = summed_norm / divisor;
  const torch::Tensor loss_finite = torch::isfinite(sums[kLoss]);
  const torch::Tensor found_inf = loss_finite.logical_not().logical_or(sums[kNonFiniteGrads] != 0);
  torch::Tensor grad_scale = torch::ones_like(divisor).div_(divisor);
  if (options_.clip_norm > 0) {
    const torch::Tensor clip = torch::full_like(grad_norm, options_.clip_norm);
    grad_scale = grad_scale * torch::where(grad_norm > clip, clip.div(grad_norm + 1e-6),
                                           torch::ones_like(grad_norm));
  }
  // Float16 decides on the host: its LossScaler and the step count stay exact, and it reads
  // every update anyway. Otherwise Optimizer::Step skips on the device where it can.
  if (scaler_ != nullptr || !optimizer_->StepsOnDevice(options_.fused_kernels)) {
    // The host reads found_inf below: first wait for the reductions on the host, with the
    // collective deadline, so that a rank that died is named instead of hanging the read.
    RETURN_IF_ERROR(last_reduction_->Wait());
  }
  if (scaler_ != nullptr && found_inf.item<bool>()) {
    optimizer_->ZeroGrad();  // nothing of the skipped update reaches the next
  } else {
    optimizer_->Step(lr, grad_scale, found_inf, options_.fused_kernels);
  }

  const torch::Tensor row =
      torch::stack({sums[kLoss], sums[kNll], sums[kTargetTokens], sums[kSourceTokens],
                    found_inf.to(torch::kDouble), sums[kSignalled], sums[kOutOfTime], sums[kFlops],
                    loss_finite.logical_not().to(torch::kDouble), sums[kLoss] / tokens,
                    sums[kNll] / tokens, grad_norm});
  window_ = torch::where(last_value_slots_, row, window_ + row);
  ++pending_;
  last_scale_ = scale;
  return absl::OkStatus();
}

absl::StatusOr<StepStats> StepRunner::Read() {
  StepStats stats;
  stats.updates = pending_;
  stats.loss_scale = last_scale_;
  if (pending_ == 0) return stats;
  if (last_reduction_ != nullptr) {
    // A host wait that watches distributed.timeout_seconds and NCCL's errors: a rank that died
    // is reported here instead of hanging the copy below.
    RETURN_IF_ERROR(last_reduction_->Wait());
    last_reduction_.reset();
  }
  const torch::Tensor host = window_.to(torch::kCPU);  // waits for the window's updates
  // A new window, not window_.zero_(): on the CPU `host` is window_ itself.
  window_ = torch::zeros_like(window_);
  pending_ = 0;
  const auto w = host.accessor<double, 1>();
  stats.ranks_signalled = static_cast<int>(w[kSignalled]);
  stats.out_of_time = w[kOutOfTime] > 0;
  stats.target_tokens = static_cast<int64_t>(w[kTargetTokens]);
  stats.source_tokens = static_cast<int64_t>(w[kSourceTokens]);
  stats.flops = w[kFlops];
  const double tokens = std::max(1.0, w[kTargetTokens]);
  stats.loss = w[kLoss] / tokens;
  stats.nll = w[kNll] / tokens;
  stats.update_loss_sum = w[kUpdateLoss];
  stats.update_nll_sum = w[kUpdateNll];
  stats.grad_norm = w[kGradNorm];
  stats.skipped = w[kSkipped] > 0;
  // A gradient overflow with a finite loss is the scaler's business; anything else means the
  // model has diverged.
  stats.nonfinite_updates =
      static_cast<int64_t>(scaler_ != nullptr ? w[kLossNonFinite] : w[kSkipped]);
  stats.finite = stats.nonfinite_updates == 0;
  if (scaler_ != nullptr && stats.finite) RETURN_IF_ERROR(scaler_->Update(stats.skipped));
  return stats;
}

}  // namespace fathom::trainer
