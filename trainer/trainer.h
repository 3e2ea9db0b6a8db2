// `fathom train`: the training loop on one screen (Marian's Train::run shape). Setup builds the
// model from the prepared data, runs the chosen initialisation (with its data-dependent pass
// across ranks), and resumes from the newest valid checkpoint when asked; Run() then loops
// updates, validation, checkpoints and progress lines until a stop condition.
#ifndef FATHOM_TRAINER_TRAINER_H_
#define FATHOM_TRAINER_TRAINER_H_

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "data/batcher.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "eval/translate/validation_bleu.h"
#include "models/seq2seq.h"
#include "proto/config.pb.h"
#include "trainer/event_writer.h"
#include "trainer/loss_scaler.h"
#include "trainer/optimizer.h"
#include "trainer/step_runner.h"
#include "trainer/stop_signal.h"

namespace fathom::trainer {

struct TrainSummary {
  int64_t steps = 0;
  int64_t epochs_started = 0;
  std::vector<double> losses;  // per update, per target token (this run only)
  double last_valid_loss = 0;
  double last_valid_bleu = -1;  // -1: not computed (eval.best_metric is not BLEU)
  // (step, metric) of each validation of this run; the metric is BLEU, or the negated loss.
  std::vector<std::pair<int64_t, double>> validations;
  // "max_steps", "max_epochs", "max_seconds", "patience", or "signal" (a checkpoint was saved and
  // the job should be requeued).
  std::string stop_reason;
  int stop_signal = 0;  // the signal that stopped the run, when stop_reason is "signal"
};

class Trainer {
 public:
  // Trains on `device` (a CUDA device needs a communicator for CUDA tensors).
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const proto::RunConfig& config,
                                                         comm::Communicator* comm, bool resume,
                                                         torch::Device device = torch::kCPU);
  absl::StatusOr<TrainSummary> Run();
  models::Seq2Seq model() const { return model_; }
  int64_t step() const { return step_; }
  // The training batch this rank reads next.
  data::BatcherPosition position() const { return batcher_->position(); }
  int64_t batches_per_epoch() const { return batcher_->batches_per_epoch(); }
  // Fault injection for tests of the NaN path: before update `step`, one weight of rank `rank`
  // becomes NaN, so that rank's loss is NaN while the others' is not.
  void InjectNanAt(int64_t step, int rank) {
    nan_step_ = step;
    nan_rank_ = rank;
  }

 private:
  Trainer(const proto::RunConfig& config, comm::Communicator* comm, torch::Device device)
      : config_(config), comm_(comm), device_(device) {}
  absl::Status Setup(bool resume);
  absl::Status Initialise();
  absl::Status RunDtFixupPass();
  absl::Status Resume(bool* resumed);
  absl::Status SaveCheckpoint();
  // Whether the update just run (its reduced StopVotes in `stats`) ends training: a signal on
  // any rank (the ranks signalled are named in the log) or rank 0's wall-time budget. Sets the
  // summary's stop reason; every rank gets the same answer.
  absl::StatusOr<bool> StopAfterThisStep(const StepStats& stats, TrainSummary* summary);
  void PoisonOneWeight();
  // distributed.timeout_seconds for training steps; four times that for `long_phase`s (set-up,
  // saving, validation), where ranks wait for one another legitimately.
  void SetCollectiveTimeout(bool long_phase);
  // The steps of best_, whose checkpoints pruning keeps.
  std::vector<int64_t> BestSteps() const;
  // Validates, logs, and updates the best-K list and the patience count. `save_now`: this step
  // entered the best K and needs its checkpoint.
  absl::Status ValidateAndTrack(TrainSummary* summary, bool* save_now, bool* out_of_patience);
  absl::StatusOr<double> Validate();
  // Corpus BLEU of the validation split: each rank decodes its share, statistics summed.
  absl::StatusOr<double> ValidationBleu();
  DeviceBatch NextBatch();

  proto::RunConfig config_;
  comm::Communicator* comm_;
  torch::Device device_;
  std::unique_ptr<data::ShardDataset> train_;
  std::unique_ptr<data::RelationStore> train_relations_;
  std::unique_ptr<data::ShardDataset> valid_;
  std::unique_ptr<data::RelationStore> valid_relations_;
  std::vector<data::BatchPlan> valid_plan_;  // this rank's validation batches
  std::unique_ptr<eval::ValidationBleu> valid_bleu_;  // when eval.best_metric is BLEU
  std::vector<int64_t> valid_examples_;              // this rank's share, for decoding
  std::unique_ptr<data::Batcher> batcher_;
  data::SpecialIds special_;
  models::Seq2Seq model_{nullptr};
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<LossScaler> loss_scaler_;  // float16 only
  std::unique_ptr<StepRunner> runner_;
  std::unique_ptr<EventWriter> events_;
  int64_t step_ = 0;
  double seconds_before_ = 0;  // trained before a resume
  std::chrono::steady_clock::time_point run_start_ = std::chrono::steady_clock::now();  // reset by Run()
  std::vector<double> mu_;     // DT-Fixup: encoder and decoder
  int64_t last_saved_step_ = -1;
  std::vector<std::pair<int64_t, double>> best_;  // (step, metric; higher is better), best first
  int validations_without_improvement_ = 0;
  std::optional<double> best_metric_;  // best validation metric so far (higher is better)
  bool events_failed_ = false;
  int64_t nan_step_ = 0;
  int nan_rank_ = -1;
  // Installed from Setup on, so a signal during a long data-dependent pass is not fatal.
  std::unique_ptr<StopSignal> stop_signal_;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_TRAINER_H_
