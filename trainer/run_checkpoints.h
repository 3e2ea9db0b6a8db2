// Saving a run and resuming it: the model, the optimiser, the batcher's position, model
// selection, the loss scale, DT-Fixup's mu and every rank's generators go into one checkpoint
// under run_dir/checkpoints (rank 0 writes it, then prunes to keep_last plus the best K). A
// resume restores them bit for bit, on another rank count at the same fraction of the epoch.
#ifndef FATHOM_TRAINER_RUN_CHECKPOINTS_H_
#define FATHOM_TRAINER_RUN_CHECKPOINTS_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "data/batcher.h"
#include "models/seq2seq.h"
#include "proto/config.pb.h"
#include "trainer/loss_scaler.h"
#include "trainer/model_selection.h"
#include "trainer/optimizer.h"
#include "trainer/run_clock.h"

namespace fathom::trainer {

struct RunCheckpointOptions {
  std::string run_dir;      // run_dir
  int keep_last = 5;        // checkpoint.keep_last
  uint64_t seed = 1;        // seed: for generators a checkpoint does not restore
  std::string config_text;  // the resolved config, kept in every checkpoint

  static RunCheckpointOptions FromProto(const proto::RunConfig& config);
};

// The run's own counters, which checkpoints keep.
struct RunState {
  int64_t step = 0;                 // updates applied
  std::vector<double> dt_fixup_mu;  // encoder and decoder; empty unless DT-Fixup
  RunClock clock;                   // training time, this run's and before a resume
};

// What a checkpoint saves and a resume restores, owned by the trainer.
struct CheckpointedParts {
  models::Seq2Seq model{nullptr};
  Optimizer* optimizer = nullptr;
  data::Batcher* batcher = nullptr;
  ModelSelection* selection = nullptr;
  LossScaler* loss_scaler = nullptr;  // float16 only
  RunState* run = nullptr;
};

class RunCheckpoints {
 public:
  RunCheckpoints(RunCheckpointOptions options, comm::Communicator* comm, torch::Device device,
                 CheckpointedParts parts)
      : options_(std::move(options)), comm_(comm), device_(device), parts_(parts) {}

  // Saves the run at its current step. A collective: every rank learns whether rank 0's write
  // worked, so none waits for a save that failed; the previous checkpoints stay intact.
  absl::Status Save();
  // Restores the newest valid checkpoint, the one rank 0 chooses, on every rank. False when
  // there is none (a fresh start).
  absl::StatusOr<bool> Resume();

  // The step of the last checkpoint this run saved or resumed from; -1 when none.
  int64_t last_saved_step() const { return last_saved_step_; }

 private:
  RunCheckpointOptions options_;
  comm::Communicator* comm_;
  torch::Device device_;
  CheckpointedParts parts_;
  int64_t last_saved_step_ = -1;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_RUN_CHECKPOINTS_H_
