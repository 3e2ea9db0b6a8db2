// The training split as this rank reads it: the shard, its relations (Spider), and the batcher
// that deals this rank's batches, made into batches on the training device, built ahead on a
// background thread when data.batch.prefetch > 0 (trainer/batch_prefetcher.h).
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
#include "trainer/batch_prefetcher.h"
#include "trainer/device_batch.h"

namespace fathom::trainer {

class TrainingData {
 public:
  // Opens PREPARED/train (and its relations when it has them) and deals it over `world_size`
  // ranks. Error when data.batch.prefetch is negative.
  static absl::StatusOr<std::unique_ptr<TrainingData>> Open(const proto::RunConfig& config,
                                                            int rank, int world_size,
                                                            torch::Device device);
  // Stops and joins the prefetch thread.
  ~TrainingData();

  // This rank's next batch: the one at batcher().position(), which then moves on by one (into
  // the next epoch after the last). The same batches in the same order whether or not they are
  // prefetched, and batcher() only ever counts the batches returned here, so a checkpoint saves
  // the position of the batches the steps consumed. Throws std::runtime_error when building the
  // batch failed on the prefetch thread.
  DeviceBatch Next();
  // The batch of `plan`, without relations when `with_relations` is false.
  DeviceBatch Make(const data::BatchPlan& plan, bool with_relations = true) const;
  // Epochs done, as a fraction: where the next batch is.
  double EpochsDone() const;

  // The position of consumed batches. Restore() may move it anywhere: Next() follows.
  data::Batcher& batcher() { return *batcher_; }
  const data::Batcher& batcher() const { return *batcher_; }
  const data::ShardDataset& dataset() const { return *dataset_; }
  // The target vocabulary's pad, bos and eos.
  const data::SpecialIds& special() const { return special_; }
  // Batches built ahead (data.batch.prefetch); 0 when each is built in Next().
  int prefetch() const { return prefetcher_ ? prefetcher_->depth() : 0; }

 private:
  TrainingData() = default;

  torch::Device device_ = torch::kCPU;
  std::unique_ptr<data::ShardDataset> dataset_;
  std::unique_ptr<data::RelationStore> relations_;  // null unless the split has relations
  std::unique_ptr<data::Batcher> batcher_;
  data::SpecialIds special_;
  // Null without prefetch. Declared last, so its thread stops before what it reads is gone.
  std::unique_ptr<BatchPrefetcher> prefetcher_;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_TRAINING_DATA_H_
