// The training split as this rank reads it: the shard, its relations (Spider), and the batcher
// that deals this rank's batches, made into batches on the training device.
#ifndef FATHOM_TRAINER_TRAINING_DATA_H_
#define FATHOM_TRAINER_TRAINING_DATA_H_

#include <torch/torch.h>

#include <memory>

#include "absl/status/statusor.h"
#include "data/batch.h"
#include "data/batcher.h"
#include "data/relation_store.h"
#include "data/shard_dataset.h"
#include "proto/config.pb.h"
#include "trainer/device_batch.h"

namespace fathom::trainer {

class TrainingData {
 public:
  // Opens PREPARED/train (and its relations when it has them) and deals it over `world_size`
  // ranks.
  static absl::StatusOr<std::unique_ptr<TrainingData>> Open(const proto::RunConfig& config,
                                                            int rank, int world_size,
                                                            torch::Device device);

  // This rank's next batch; the batcher moves on (into the next epoch after the last).
  DeviceBatch Next();
  // The batch of `plan`, without relations when `with_relations` is false.
  DeviceBatch Make(const data::BatchPlan& plan, bool with_relations = true) const;
  // Epochs done, as a fraction: where the next batch is.
  double EpochsDone() const;

  data::Batcher& batcher() { return *batcher_; }
  const data::Batcher& batcher() const { return *batcher_; }
  const data::ShardDataset& dataset() const { return *dataset_; }
  // The target vocabulary's pad, bos and eos.
  const data::SpecialIds& special() const { return special_; }

 private:
  TrainingData() = default;

  torch::Device device_ = torch::kCPU;
  std::unique_ptr<data::ShardDataset> dataset_;
  std::unique_ptr<data::RelationStore> relations_;  // null unless the split has relations
  std::unique_ptr<data::Batcher> batcher_;
  data::SpecialIds special_;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_TRAINING_DATA_H_
