#include "trainer/progress_reporter.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/logging.h"
#include "models/flops.h"
#include "trainer/device_info.h"
#include "trainer/stop_signal.h"

namespace fathom::trainer {

ProgressOptions ProgressOptions::FromProto(const proto::RunConfig& config, int world_size,
                                           const torch::Device& device) {
  ProgressOptions options;
  options.world_size = world_size;
  options.device = device;
  options.peak_tflops = config.distributed().peak_tflops() > 0
                            ? config.distributed().peak_tflops()
                            : (device.is_cuda() ? models::PeakBf16Tflops(DeviceName(device)) : 0.0);
  options.log_every_steps = config.eval().log_every_steps();
  options.max_steps = config.optim().max_steps();
  options.max_epochs = config.optim().max_epochs();
  options.max_seconds = config.optim().max_seconds();
  options.run_dir = config.run_dir();
  return options;
}

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

ProgressReporter::ProgressReporter(ProgressOptions options, const RunClock* clock,
                                   const data::Batcher* batcher, const LossScaler* loss_scaler,
                                   std::unique_ptr<EventWriter> events)
    : options_(std::move(options)),
      clock_(clock),
      batcher_(batcher),
      loss_scaler_(loss_scaler),
      events_(std::move(events)) {}

void ProgressReporter::Start() {
  window_start_ = std::chrono::steady_clock::now();
  window_tokens_ = 0;
  window_flops_ = 0;
  ResetPeakMemory(options_.device);
  window_loss_ = window_nll_ = 0;
  window_steps_ = 0;
}

void ProgressReporter::Update(int64_t step, double lr, const StepStats& stats) {
  if (events_ == nullptr) return;  // not rank 0
  // The line averages per update, whether the host read the updates one by one (CPU) or in
  // windows (CUDA, StepRunner).
  window_loss_ += stats.update_loss_sum;
  window_nll_ += stats.update_nll_sum;
  window_tokens_ += stats.target_tokens + stats.source_tokens;
  window_flops_ += stats.flops;
  window_steps_ += stats.updates;
  if (step % options_.log_every_steps != 0) return;
  const double seconds = SecondsSince(window_start_);
  const double loss = window_loss_ / window_steps_, nll = window_nll_ / window_steps_;
  const double total = clock_->Total();
  // Epochs done, as a fraction: the position after this step's batches.
  const double epochs =
      static_cast<double>(batcher_->position().epoch) +
      static_cast<double>(batcher_->position().index) / batcher_->batches_per_epoch();
  // The run ends at whichever limit comes first.
  double left = std::numeric_limits<double>::infinity();
  if (options_.max_epochs > 0 && epochs > 0) {
    left = std::min(left, total / epochs * std::max(0.0, options_.max_epochs - epochs));
  }
  if (options_.max_steps > 0) left = std::min(left, total / step * (options_.max_steps - step));
  if (options_.max_seconds > 0) left = std::min(left, std::max(0.0, options_.max_seconds - total));
  const std::string eta = std::isfinite(left) ? FormatDuration(left) : "-";
  const double tokens_per_second = window_tokens_ / std::max(seconds, 1e-9);
  // Achieved model TFLOP/s per device, and MFU against the device's peak when it is known.
  const double tflops = window_flops_ / std::max(seconds, 1e-9) / options_.world_size / 1e12;
  const double mfu = options_.peak_tflops > 0 ? tflops / options_.peak_tflops : -1;
  const int64_t memory = PeakMemoryBytes(options_.device);
  const std::string mfu_text = mfu >= 0 ? absl::StrFormat("%.1f%%", 100 * mfu) : "-";
  const std::string memory_text =
      memory >= 0 ? absl::StrFormat(" | mem %.1f GiB", memory / double{1 << 30}) : "";
  FLOG(Info) << absl::StrFormat(
      "step %d | epoch %.2f | loss %.4f | nll %.4f | ppl %.2f | lr %.3g | gnorm %.3f | scale %g | "
      "tok/s %.0f | TFLOP/s %.3g | MFU %s%s | elapsed %s | eta %s",
      step, epochs, loss, nll, std::exp(nll), lr, stats.grad_norm, LossScale(), tokens_per_second,
      tflops, mfu_text, memory_text, FormatDuration(total), eta);
  const std::vector<std::pair<const char*, double>> scalars = {
      {"train/loss", loss},
      {"train/nll", nll},
      {"train/lr", lr},
      {"train/grad_norm", stats.grad_norm},
      {"train/loss_scale", LossScale()},
      {"train/tokens_per_second", tokens_per_second},
      {"train/tflops_per_device", tflops}};
  for (const auto& [tag, value] : scalars) WarnIfFailed(events_->AddScalar(tag, value, step));
  if (mfu >= 0) WarnIfFailed(events_->AddScalar("train/mfu", mfu, step));
  if (memory >= 0) {
    WarnIfFailed(events_->AddScalar("train/peak_memory_gib", memory / double{1 << 30}, step));
  }
  WarnIfFailed(events_->Flush());
  Start();
}

void ProgressReporter::Skipped(int64_t step, const StepStats& stats) const {
  // Routine while the scale finds its level; every rank skipped together.
  FLOG(Info) << "step " << step << ": float16 gradients overflowed at loss scale "
             << stats.loss_scale << "; update skipped, scale now " << LossScale();
}

void ProgressReporter::Validation(int64_t step, const ValidationResult& result) {
  std::string metric_text;
  if (result.bleu.has_value()) {
    metric_text = absl::StrFormat(" | bleu %.2f (%d sentences, %.1f s)", *result.bleu,
                                  result.sentences, result.decode_seconds);
  }
  if (result.exact_match.has_value()) {
    const decode::ValidationExactMatchStats& em = result.exact_match_stats;
    metric_text = absl::StrFormat(
        " | exact match %.2f%% (%d of %d; easy %d/%d, medium %d/%d, hard %d/%d, extra %d/%d; "
        "%d unparsed; %.1f s)",
        *result.exact_match, em.matched, em.sentences, em.hardness_matched[0], em.hardness_total[0],
        em.hardness_matched[1], em.hardness_total[1], em.hardness_matched[2], em.hardness_total[2],
        em.hardness_matched[3], em.hardness_total[3], em.pred_parse_failures,
        result.decode_seconds);
  }
  FLOG(Info) << absl::StrFormat("valid | step %d | nll %.4f | ppl %.2f%s", step, result.nll,
                                std::exp(result.nll), metric_text);
  if (events_ == nullptr) return;
  WarnIfFailed(events_->AddScalar("valid/nll", result.nll, step));
  if (result.bleu.has_value()) WarnIfFailed(events_->AddScalar("valid/bleu", *result.bleu, step));
  if (result.exact_match.has_value()) {
    WarnIfFailed(events_->AddScalar("valid/exact_match", *result.exact_match, step));
  }
}

void ProgressReporter::Stopped(int64_t step, StopReason reason, int signal) const {
  const std::string& run_dir = options_.run_dir;
  if (reason == StopReason::kSignal) {
    FLOG(Warning) << "stopped at step " << step << " by " << SignalName(signal)
                  << " after saving a checkpoint; resume with --resume (exit code 75: requeue)";
  } else {
    FLOG(Info) << "stopped at step " << step << " (" << reason << ") after "
               << FormatDuration(clock_->ThisRun()) << "; checkpoints in " << run_dir
               << "/checkpoints, TensorBoard logs in " << run_dir << "/tb";
  }
}

// A failure to write the events (a full disk) is rank 0's alone, so failing would leave the
// others waiting.
void ProgressReporter::WarnIfFailed(const absl::Status& status) {
  if (status.ok() || events_failed_) return;
  events_failed_ = true;
  FLOG(Warning) << "TensorBoard events: " << status.message()
                << " (training goes on; further errors not shown)";
}

}  // namespace fathom::trainer
