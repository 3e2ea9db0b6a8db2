// What a run tells the people watching it: rank 0's progress line every eval.log_every_steps
// (averaged over the steps since the last one) and TensorBoard scalars under run_dir/tb, the
// validation line, float16 skips, and the last line. TensorBoard files are for people
// watching: a failure to write them is a warning, never the run's end.
#ifndef FATHOM_TRAINER_PROGRESS_REPORTER_H_
#define FATHOM_TRAINER_PROGRESS_REPORTER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "data/batcher.h"
#include "proto/config.pb.h"
#include "trainer/event_writer.h"
#include "trainer/loss_scaler.h"
#include "trainer/run_clock.h"
#include "trainer/step_runner.h"
#include "trainer/stop_reason.h"
#include "trainer/validator.h"

namespace fathom::trainer {

struct ProgressOptions {
  int64_t log_every_steps = 100;  // eval.log_every_steps
  // optim's limits, for the eta: whichever comes first; 0 for none.
  int64_t max_steps = 0;
  int32_t max_epochs = 0;
  int64_t max_seconds = 0;
  std::string run_dir;  // named in the last line
  // MFU = model FLOPs per second / (world_size * peak); peak 0: not shown.
  int world_size = 1;
  double peak_tflops = 0;
  torch::Device device = torch::kCPU;  // whose memory the line shows (CUDA only)

  // distributed.peak_tflops, or the peak of `device`'s GPU by name when that is 0.
  static ProgressOptions FromProto(const proto::RunConfig& config, int world_size,
                                   const torch::Device& device);
};

// "H:MM:SS".
std::string FormatDuration(double seconds);

class ProgressReporter {
 public:
  // Reads the position from `batcher`, the scale from `loss_scaler` (null: 1) and the time from
  // `clock`; all must outlive it. `events`: rank 0's TensorBoard writer, and only rank 0 prints
  // the progress line; null on the other ranks.
  ProgressReporter(ProgressOptions options, const RunClock* clock, const data::Batcher* batcher,
                   const LossScaler* loss_scaler, std::unique_ptr<EventWriter> events);

  // Starts the first window; at the start of the training loop.
  void Start();
  // The updates read in `stats` (StepRunner::Read) were applied, the last of them making `step`
  // with learning rate `lr`. A line is due when `step` is a multiple of log_every_steps.
  void Update(int64_t step, double lr, const StepStats& stats);
  // The update that would have been `step` was skipped: float16 gradients overflowed.
  void Skipped(int64_t step, const StepStats& stats) const;
  void Validation(int64_t step, const ValidationResult& result);
  void Stopped(int64_t step, StopReason reason, int signal) const;

 private:
  void WarnIfFailed(const absl::Status& status);
  double LossScale() const { return loss_scaler_ != nullptr ? loss_scaler_->scale() : 1.0; }

  ProgressOptions options_;
  const RunClock* clock_;
  const data::Batcher* batcher_;
  const LossScaler* loss_scaler_;
  std::unique_ptr<EventWriter> events_;
  bool events_failed_ = false;
  // The window since the last progress line.
  std::chrono::steady_clock::time_point window_start_ = std::chrono::steady_clock::now();
  int64_t window_tokens_ = 0;
  double window_flops_ = 0;
  double window_loss_ = 0, window_nll_ = 0;
  int64_t window_steps_ = 0;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_PROGRESS_REPORTER_H_
