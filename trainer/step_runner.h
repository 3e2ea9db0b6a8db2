// One optimiser update: forward and backward over this rank's micro-batches (gradient
// accumulation), gradients summed across ranks in overlapped buckets and normalised by the
// global target-token count, clipped, applied. R ranks with B tokens each train exactly like
// one rank with R*B tokens. With a LossScaler (float16), the loss is scaled before backward,
// the gradients unscaled after the reduction, and an update whose gradients overflowed is
// skipped on every rank.
//
// An update never waits for the host on CUDA: its results (loss and nll sums, token counts,
// FLOPs, whether it was finite, the gradient norm, the stop votes) accumulate in a small tensor
// on the device, and the host reads that window with Read() every StepOptions::read_every
// updates (eval.log_every_steps on CUDA; every update on CPU devices, where a read costs
// nothing, and with float16, whose LossScaler decides on the host), and before a checkpoint, a
// validation and the end of training (Trainer). Within an update everything stays on the
// device: the per-update all-reduce of the stats tensor (NCCL reduces CUDA tensors, MPI the CPU
// ones), the global token count that normalises the gradients, the gradient norm (one
// multi-tensor reduction), the found_inf flag and the grad_scale factor (normalisation,
// unscaling and clipping in one), and the optimiser step, which skips a non-finite update on the
// device (kernels/multi_tensor_adam.h) when StepOptions::fused_kernels. On CPU the arithmetic is
// exactly what it was when the host read every update.
#ifndef FATHOM_TRAINER_STEP_RUNNER_H_
#define FATHOM_TRAINER_STEP_RUNNER_H_

#include <torch/torch.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "models/seq2seq.h"
#include "trainer/device_batch.h"
#include "trainer/grad_reducer.h"
#include "trainer/loss_scaler.h"
#include "trainer/optimizer.h"

namespace fathom::trainer {

struct StepOptions {
  double label_smoothing = 0.1;
  double clip_norm = 0.0;  // 0: no clipping
  // Autocast of the forward pass on the batch's device (CPU or CUDA). At most one of the two;
  // float16 needs CUDA (LibTorch has no float16 matrix multiply on CPU) and a LossScaler.
  bool bf16_autocast = false;
  bool fp16_autocast = false;
  int64_t bucket_bytes = 25 << 20;
  // On CUDA in a build with kernels/ (kernels::CudaKernelsBuilt()): the optimiser step as one
  // multi-tensor kernel that reads grad_scale and found_inf on the device, and the fused
  // cross-entropy. false: LibTorch operations, which read found_inf on the host (the comparison
  // path). No effect on CPU.
  bool fused_kernels = true;
  // Updates between the host's reads of the results (Read()); 1 reads every update. Float16
  // needs 1. Tests set more on the CPU to run the deferred reads of a CUDA step there.
  int64_t read_every = 1;
  // Whether the gradient and statistics reductions are ordered after on the device (no host
  // wait for them in a step, comm::Work::WaitOnDevice) rather than waited for on the host. The
  // host wait is what enforces distributed.timeout_seconds: with device ordering, a rank that
  // dies while the others run ahead stalls them inside a kernel launch, where no deadline is
  // watched, until a watchdog thread that aborts NCCL from outside exists (not yet). So it is
  // on only where no deadline is asked for (timeout_seconds 0) or there is no one to wait for
  // (one rank); a one-GPU run is host-free either way.
  bool device_ordered_reductions = false;

  // optim.label_smoothing, optim.clip_norm, distributed.precision, distributed.bucket_mb,
  // distributed.fused_kernels; read_every is eval.log_every_steps on a CUDA `device` unless the
  // precision is FP16, 1 otherwise; device_ordered_reductions when distributed.timeout_seconds
  // is 0.
  static StepOptions FromProto(const proto::RunConfig& config,
                               const torch::Device& device = torch::kCPU);
};

// This rank's say in whether training stops. It rides on every update's reduction of the stats
// tensor, so stopping costs no collective of its own; the host sees the reduced votes of the
// last update of a window when it reads the window, so on CUDA a stop takes effect within
// read_every updates.
struct StopVote {
  bool signalled = false;    // this rank received SIGTERM or SIGUSR1
  bool out_of_time = false;  // this rank's clock says the wall-time budget is spent
};

// The results of the updates since the last Read() (one update when reading every update).
struct StepStats {
  int64_t updates = 0;  // in this window
  double loss = 0;      // per target token, over all ranks and the window's updates
  double nll = 0;       // per target token
  // The sums over the window's updates of each update's per-token loss and nll (what the
  // progress line averages per update; equal to loss and nll for one update).
  double update_loss_sum = 0, update_nll_sum = 0;
  int64_t target_tokens = 0;  // all ranks, the window's updates
  int64_t source_tokens = 0;
  double flops = 0;      // model FLOPs of the window's updates, all ranks (models/flops.h)
  double grad_norm = 0;  // of the last update: unscaled, before clipping; not finite if skipped
  // false: the loss was not finite on some rank, or (without a LossScaler) a gradient was not,
  // in `nonfinite_updates` of the window's updates; those were not applied and training should
  // stop.
  bool finite = true;
  int64_t nonfinite_updates = 0;
  // Some update was not applied: !finite, or a LossScaler's gradient overflow (a routine event
  // in float16 training, whose windows are one update; the scale has backed off).
  bool skipped = false;
  double loss_scale = 1;     // the factor the last update's loss was multiplied by
  int ranks_signalled = 0;   // ranks whose last StopVote said signalled
  bool out_of_time = false;  // some rank's last StopVote said out_of_time
};

class StepRunner {
 public:
  // `scaler`: dynamic loss scaling when not null (it must outlive the runner; its owner saves
  // its state with checkpoints).
  StepRunner(models::Seq2Seq model, Optimizer* optimizer, comm::Communicator* comm,
             StepOptions options, LossScaler* scaler = nullptr);

  // Runs one update with learning rate `lr` and adds its results to the window on the device,
  // without waiting for it on CUDA. Whether the loss and the gradients are finite is reduced
  // over the ranks with the stats, so every rank applies or skips together. Errors: what the
  // host knows at once (communication failures, fp16 autocast on a CPU batch, an update with a
  // LossScaler before the previous one was read).
  absl::Status Update(const std::vector<DeviceBatch>& micro_batches, double lr, StopVote vote = {});
  // Whether read_every updates have run since the last Read().
  bool ReadDue() const { return pending_ >= options_.read_every; }
  int64_t pending() const { return pending_; }
  int64_t read_every() const { return options_.read_every; }
  // Reads the window of updates since the last Read() (the one wait for the device) and starts
  // a new one; updates 0 when there was none. With a LossScaler it records the update's
  // overflow; errors when it overflowed at the minimum scale.
  absl::StatusOr<StepStats> Read();
  // Refuses read_every != 1 with a LossScaler.
  absl::Status set_read_every(int64_t updates);

  const GradReducer& reducer() const { return *reducer_; }

 private:
  models::Seq2Seq model_;
  Optimizer* optimizer_;
  comm::Communicator* comm_;
  StepOptions options_;
  LossScaler* scaler_;
  std::unique_ptr<GradReducer> reducer_;
  torch::Device device_;  // the parameters'
  // The window: float64 sums over the updates since the last read (step_runner.cc's Window
  // slots), and which slots hold the last update's value instead of a sum.
  torch::Tensor window_, last_value_slots_;
  int64_t pending_ = 0;
  std::shared_ptr<comm::Work> last_reduction_;  // the newest update's statistics all-reduce
  double last_scale_ = 1;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_STEP_RUNNER_H_
