#include "trainer/training_data.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fathom::trainer {

absl::StatusOr<std::unique_ptr<TrainingData>> TrainingData::Open(const proto::RunConfig& config,
                                                                 int rank, int world_size,
                                                                 torch::Device device) {
  std::unique_ptr<TrainingData> data(new TrainingData());
  data->device_ = device;
  const std::string& prepared = config.data().prepared_dir();
  ASSIGN_OR_RETURN(data->dataset_, data::ShardDataset::Open(prepared, "train"));
  const auto& header = data->dataset_->header();
  if (header.has_relations()) {
    ASSIGN_OR_RETURN(data->relations_, data::RelationStore::Open(prepared, *data->dataset_));
  }
  data->special_ = {header.target_vocab().pad_id(), header.target_vocab().bos_id(),
                    header.target_vocab().eos_id()};
  ASSIGN_OR_RETURN(
      data::Batcher batcher,
      data::Batcher::Create(data->dataset_->SourceLengths(), data->dataset_->TargetLengths(),
                            data::BatchingOptions::FromProto(config.data().batch(), config.seed()),
                            rank, world_size));
  data->batcher_ = std::make_unique<data::Batcher>(std::move(batcher));
  const int prefetch = config.data().batch().prefetch();
  if (prefetch < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data.batch.prefetch: must be >= 0 (got ", prefetch, ")"));
  }
  if (prefetch > 0) {
    const TrainingData* source = data.get();
    data->prefetcher_ = std::make_unique<BatchPrefetcher>(
        *data->batcher_, prefetch, device, [source](const data::BatchPlan& plan) {
          return data::MakeBatch(*source->dataset_, plan, source->special_,
                                 source->relations_.get());
        });
  }
  return data;
}

TrainingData::~TrainingData() = default;

DeviceBatch TrainingData::Next() {
  if (!prefetcher_) {
    data::BatchPlan plan;
    batcher_->Next(&plan);
    return Make(plan);
  }
  data::BatcherPosition next;
  DeviceBatch batch = prefetcher_->Take(batcher_->position(), &next);
  // The same move Next() would make, without recomputing the epoch's plan on this thread.
  const absl::Status moved = batcher_->Restore(next);
  TORCH_CHECK(moved.ok(), "TrainingData::Next: ", moved.message());
  return batch;
}

DeviceBatch TrainingData::Make(const data::BatchPlan& plan, bool with_relations) const {
  if (!with_relations) return ToDevice(data::MakeBatch(*dataset_, plan, special_), device_);
  return ToDevice(data::MakeBatch(*dataset_, plan, special_, relations_.get()), device_);
}

double TrainingData::EpochsDone() const {
  const data::BatcherPosition position = batcher_->position();
  return static_cast<double>(position.epoch) +
         static_cast<double>(position.index) / batcher_->batches_per_epoch();
}

}  // namespace fathom::trainer
