// One optimiser update: forward and backward over this rank's micro-batches (gradient
// accumulation), gradients summed across ranks in overlapped buckets and normalised by the
// global target-token count, clipped, applied. R ranks with B tokens each train exactly like
// one rank with R*B tokens.
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
#include "trainer/optimizer.h"

namespace fathom::trainer {

struct StepOptions {
  double label_smoothing = 0.1;
  double clip_norm = 0.0;      // 0: no clipping
  bool bf16_autocast = false;  // CPU and CUDA autocast to bfloat16
  int64_t bucket_bytes = 25 << 20;
};

struct StepStats {
  double loss = 0;        // per target token, over all ranks
  double nll = 0;         // per target token
  int64_t target_tokens = 0;  // all ranks
  int64_t source_tokens = 0;
  double grad_norm = 0;   // before clipping
  bool finite = true;     // false: the update was not applied
};

class StepRunner {
 public:
  StepRunner(models::Seq2Seq model, Optimizer* optimizer, comm::Communicator* comm, StepOptions options);

  // Runs one update with learning rate `lr`. When any rank's loss is not finite, every rank
  // skips the update and reports finite = false (the same decision everywhere).
  absl::StatusOr<StepStats> Update(const std::vector<DeviceBatch>& micro_batches, double lr);

  const GradReducer& reducer() const { return *reducer_; }

 private:
  models::Seq2Seq model_;
  Optimizer* optimizer_;
  comm::Communicator* comm_;
  StepOptions options_;
  std::unique_ptr<GradReducer> reducer_;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_STEP_RUNNER_H_
