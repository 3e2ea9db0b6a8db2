// One optimiser update: forward and backward over this rank's micro-batches (gradient
// accumulation), gradients summed across ranks in overlapped buckets and normalised by the
// global target-token count, clipped, applied. R ranks with B tokens each train exactly like
// one rank with R*B tokens. With a LossScaler (float16), the loss is scaled before backward,
// the gradients unscaled after the reduction, and an update whose gradients overflowed is
// skipped on every rank.
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

  // optim.label_smoothing, optim.clip_norm, distributed.precision and distributed.bucket_mb.
  static StepOptions FromProto(const proto::RunConfig& config);
};

// This rank's say in whether training stops after this update. It rides on the update's own
// reduction, so stopping costs no collective of its own.
struct StopVote {
  bool signalled = false;    // this rank received SIGTERM or SIGUSR1
  bool out_of_time = false;  // this rank's clock says the wall-time budget is spent
};

struct StepStats {
  double loss = 0;            // per target token, over all ranks
  double nll = 0;             // per target token
  int64_t target_tokens = 0;  // all ranks
  int64_t source_tokens = 0;
  double flops = 0;      // model FLOPs of the update, all ranks (models/flops.h)
  double grad_norm = 0;  // unscaled, before clipping; not finite when the update was skipped
  // false: the loss was not finite on some rank, or (without a LossScaler) a gradient was not;
  // the update was not applied and training should stop.
  bool finite = true;
  // The update was not applied: !finite, or a LossScaler's gradient overflow (a routine event
  // in float16 training; the scale has backed off and training goes on).
  bool skipped = false;
  double loss_scale = 1;     // the factor this update's loss was multiplied by
  int ranks_signalled = 0;   // ranks whose StopVote said signalled
  bool out_of_time = false;  // some rank's StopVote said out_of_time
};

class StepRunner {
 public:
  // `scaler`: dynamic loss scaling when not null (it must outlive the runner; its owner saves
  // its state with checkpoints).
  StepRunner(models::Seq2Seq model, Optimizer* optimizer, comm::Communicator* comm,
             StepOptions options, LossScaler* scaler = nullptr);

  // Runs one update with learning rate `lr`. Whether the loss and the gradients are finite is
  // reduced over the ranks, so every rank makes the same decision to apply or skip. Errors:
  // communication failures, fp16 autocast on a CPU batch, and a LossScaler overflowing at its
  // minimum scale.
  absl::StatusOr<StepStats> Update(const std::vector<DeviceBatch>& micro_batches, double lr,
                                   StopVote vote = {});

  const GradReducer& reducer() const { return *reducer_; }

 private:
  models::Seq2Seq model_;
  Optimizer* optimizer_;
  comm::Communicator* comm_;
  StepOptions options_;
  LossScaler* scaler_;
  std::unique_ptr<GradReducer> reducer_;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_STEP_RUNNER_H_
