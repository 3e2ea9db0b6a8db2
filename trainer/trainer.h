// `fathom train`: the training loop on one screen (Marian's Train::run shape). Setup builds the
// model from the prepared data, runs the initialisation passes (initialisation_passes.h), and
// resumes from the newest valid checkpoint when asked (run_checkpoints.h); Run() then loops:
// step, maybe validate (validator.h, model_selection.h), maybe save, maybe stop, reporting
// progress as it goes (progress_reporter.h).
#ifndef FATHOM_TRAINER_TRAINER_H_
#define FATHOM_TRAINER_TRAINER_H_

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "data/batcher.h"
#include "models/seq2seq.h"
#include "proto/config.pb.h"
#include "trainer/run_checkpoints.h"
#include "trainer/stop_reason.h"

namespace fathom::trainer {

class LrSchedule;
class ProgressReporter;
class StepRunner;
class StopSignal;
class TrainingData;
class Validator;
struct StepStats;

struct TrainSummary {
  int64_t steps = 0;
  int64_t epochs_started = 0;
  // Per read of the steps' results (this run only): the mean over the updates read of each
  // update's per-target-token loss. Reads are per update on the CPU (one loss per update).
  std::vector<double> losses;
  double last_valid_loss = 0;
  double last_valid_bleu = -1;  // -1: not computed (eval.best_metric is not BLEU)
  // (step, metric) of each validation of this run; the metric is BLEU, or the negated loss.
  std::vector<std::pair<int64_t, double>> validations;
  // kSignal: a checkpoint was saved and the job should be requeued.
  StopReason stop_reason = StopReason::kNone;
  int stop_signal = 0;  // the signal that stopped the run, when stop_reason is kSignal
};

class Trainer {
 public:
  // Called on every rank before each update with its number (1-based) and the model: fault
  // injection for tests (`fathom train` installs one only when FATHOM_INJECT_NAN is set).
  using BeforeStepHook = std::function<void(int64_t step, models::Seq2SeqImpl& model)>;

  // Trains on `device` (a CUDA device needs a communicator for CUDA tensors).
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const proto::RunConfig& config,
                                                         comm::Communicator* comm, bool resume,
                                                         torch::Device device = torch::kCPU);
  ~Trainer();
  absl::StatusOr<TrainSummary> Run();
  models::Seq2Seq model() const { return model_; }
  int64_t step() const { return run_.step; }
  // The training batch this rank reads next.
  data::BatcherPosition position() const;
  int64_t batches_per_epoch() const;
  void set_before_step(BeforeStepHook hook) { before_step_ = std::move(hook); }
  // Reads the steps' results back every `updates` updates instead of the device's own interval
  // (eval.log_every_steps on CUDA, every update on the CPU): how the tests run the deferred reads
  // of a CUDA step on the CPU. Before Run(). Errors: `updates` < 1, or > 1 in float16 training.
  absl::Status set_read_every(int64_t updates);

 private:
  Trainer(const proto::RunConfig& config, comm::Communicator* comm, torch::Device device);
  absl::Status Setup(bool resume);
  // A limit reached before the next update (or a resumed run that had run out of patience).
  StopReason StopBeforeStep() const;
  // One update, and the read of the results when one is due: every update on the CPU and in
  // float16, every eval.log_every_steps updates on CUDA (StepRunner), and before a validation or
  // a checkpoint, which must not see an unread update. Returns the stop the read found (kNone
  // without a read); errors when an update read was not finite.
  absl::StatusOr<StopReason> Step(const LrSchedule& schedule, TrainSummary* summary);
  // Reads the updates not read yet: records them in `summary` and the progress line, or takes
  // the step back when float16 gradients overflowed (every rank skipped together). Errors when
  // the loss or a gradient of one was not finite: every rank stops at the same read, without
  // saving.
  absl::StatusOr<StepStats> ReadBack(const LrSchedule& schedule, TrainSummary* summary);
  // Validates and saves when this step is due for either (or enters the best K).
  absl::Status ValidateAndSaveWhenDue(TrainSummary* summary);
  // Returns whether this step's checkpoint must be saved as one of the best K.
  absl::StatusOr<bool> Validate(TrainSummary* summary);
  // Whether the last update read (its reduced StopVotes in `stats`) ends training: a signal on
  // any rank (the ranks signalled are named in the log) or rank 0's wall-time budget. Every
  // rank gets the same answer.
  absl::StatusOr<StopReason> StopAfterRead(const StepStats& stats, int* signal);
  // distributed.timeout_seconds for training steps; four times that for `long_phase`s (set-up,
  // saving, validation), where ranks wait for one another legitimately.
  void SetCollectiveTimeout(bool long_phase);

  proto::RunConfig config_;
  comm::Communicator* comm_;
  torch::Device device_;
  RunState run_;
  std::unique_ptr<TrainingData> data_;
  std::unique_ptr<Validator> validator_;
  models::Seq2Seq model_{nullptr};
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<LossScaler> loss_scaler_;  // float16 only
  std::unique_ptr<StepRunner> runner_;
  std::unique_ptr<ModelSelection> selection_;
  std::unique_ptr<RunCheckpoints> checkpoints_;
  std::unique_ptr<ProgressReporter> progress_;
  BeforeStepHook before_step_;
  // Installed from Setup on, so a signal during a long data-dependent pass is not fatal.
  std::unique_ptr<StopSignal> stop_signal_;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_TRAINER_H_
