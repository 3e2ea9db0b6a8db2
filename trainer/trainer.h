// `fathom train`: the training loop on one screen (Marian's Train::run shape). Setup builds the
// model from the prepared data, runs the chosen initialisation (with its data-dependent pass
// across ranks), and resumes from the newest valid checkpoint when asked; Run() then loops
// updates, validation, checkpoints and progress lines until a stop condition.
#ifndef FATHOM_TRAINER_TRAINER_H_
#define FATHOM_TRAINER_TRAINER_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "data/batcher.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "models/seq2seq.h"
#include "proto/config.pb.h"
#include "trainer/event_writer.h"
#include "trainer/optimizer.h"
#include "trainer/step_runner.h"

namespace fathom::trainer {

struct TrainSummary {
  int64_t steps = 0;
  int64_t epochs_started = 0;
  std::vector<double> losses;  // per update, per target token (this run only)
  double last_valid_loss = 0;
  std::string stop_reason;
};

class Trainer {
 public:
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const proto::RunConfig& config,
                                                         comm::Communicator* comm, bool resume);
  absl::StatusOr<TrainSummary> Run();
  models::Seq2Seq model() const { return model_; }
  int64_t step() const { return step_; }

 private:
  Trainer(const proto::RunConfig& config, comm::Communicator* comm) : config_(config), comm_(comm) {}
  absl::Status Setup(bool resume);
  absl::Status Initialise();
  absl::Status RunDtFixupPass();
  absl::Status Resume(bool* resumed);
  absl::Status SaveCheckpoint();
  absl::StatusOr<double> Validate();
  DeviceBatch NextBatch();

  proto::RunConfig config_;
  comm::Communicator* comm_;
  torch::Device device_ = torch::kCPU;
  std::unique_ptr<data::ShardDataset> train_;
  std::unique_ptr<data::RelationStore> train_relations_;
  std::unique_ptr<data::ShardDataset> valid_;
  std::unique_ptr<data::RelationStore> valid_relations_;
  std::vector<data::BatchPlan> valid_plan_;  // this rank's validation batches
  std::unique_ptr<data::Batcher> batcher_;
  data::SpecialIds special_;
  models::Seq2Seq model_{nullptr};
  std::unique_ptr<Optimizer> optimizer_;
  std::unique_ptr<StepRunner> runner_;
  std::unique_ptr<EventWriter> events_;
  int64_t step_ = 0;
  double seconds_before_ = 0;  // trained before a resume
  std::chrono::steady_clock::time_point run_start_ = std::chrono::steady_clock::now();
  std::vector<double> mu_;     // DT-Fixup: encoder and decoder
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_TRAINER_H_
