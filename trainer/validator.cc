#include "trainer/validator.h"

#include <algorithm>
#include <chrono>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "trainer/device_batch.h"
#include "trainer/run_clock.h"
#include "trainer/training_data.h"

namespace fathom::trainer {

ValidatorOptions ValidatorOptions::FromProto(const proto::RunConfig& config) {
  ValidatorOptions options;
  options.prepared_dir = config.data().prepared_dir();
  options.batching = data::BatchingOptions::FromProto(config.data().batch(), config.seed());
  options.batching.shuffle = false;  // validation reads in length order
  options.bleu = config.eval().best_metric() == proto::EvalConfig::BLEU;
  options.exact_match = config.eval().best_metric() == proto::EvalConfig::EXACT_MATCH;
  options.sentencepiece = config.data().sentencepiece();
  options.spider_tables = config.data().spider_tables();
  options.decode = decode::ValidationDecodeOptions::FromProto(config);
  options.max_positions = config.model().max_positions();
  return options;
}

absl::StatusOr<std::unique_ptr<Validator>> Validator::Open(const ValidatorOptions& options,
                                                           const data::SpecialIds& special,
                                                           comm::Communicator* comm,
                                                           torch::Device device) {
  std::unique_ptr<Validator> validator(new Validator());
  validator->comm_ = comm;
  validator->device_ = device;
  validator->special_ = special;
  const std::string& prepared = options.prepared_dir;
  if (!PathExists(absl::StrCat(prepared, "/valid.header"))) {
    if (!options.bleu && !options.exact_match) return validator;
    return absl::InvalidArgumentError(
        absl::StrCat("eval.best_metric: ", options.bleu ? "BLEU" : "EXACT_MATCH",
                     " needs a validation split, and ", prepared,
                     " has none (add a data.split named \"valid\")"));
  }
  ASSIGN_OR_RETURN(validator->valid_, data::ShardDataset::Open(prepared, "valid"));
  const data::ShardDataset& valid = *validator->valid_;
  if (valid.header().has_relations()) {
    ASSIGN_OR_RETURN(validator->relations_, data::RelationStore::Open(prepared, valid));
  }
  // The validation batches never change (no shuffle): plan them once.
  ASSIGN_OR_RETURN(data::Batcher batcher,
                   data::Batcher::Create(valid.SourceLengths(), valid.TargetLengths(),
                                         options.batching, comm->rank(), comm->size()));
  validator->plan_ = batcher.EpochBatches(0);
  // A valid split prepared with apply_filter: false may hold pairs longer than the model's
  // positions; the loss leaves them out (with a count) instead of failing the run.
  const std::vector<int32_t> source_lengths = valid.SourceLengths();
  const std::vector<int32_t> target_lengths = valid.TargetLengths();
  int64_t too_long = 0;
  for (data::BatchPlan& plan : validator->plan_) {
    std::vector<int64_t> kept;
    plan.max_source_length = plan.max_target_length = 0;
    for (int64_t example : plan.examples) {
      if (source_lengths[example] + 1 > options.max_positions ||
          target_lengths[example] + 1 > options.max_positions) {
        ++too_long;
        continue;
      }
      kept.push_back(example);
      plan.max_source_length = std::max(plan.max_source_length, source_lengths[example]);
      plan.max_target_length = std::max(plan.max_target_length, target_lengths[example]);
    }
    plan.examples = std::move(kept);
  }
  validator->plan_.erase(
      std::remove_if(validator->plan_.begin(), validator->plan_.end(),
                     [](const data::BatchPlan& plan) { return plan.examples.empty(); }),
      validator->plan_.end());
  if (too_long > 0) {
    FLOG(Warning) << "rank " << comm->rank() << ": " << too_long << " pair(s) of " << prepared
                  << "/valid longer than model.max_positions (" << options.max_positions
                  << ") left out of the validation loss";
  }
  if (options.bleu) {
    ASSIGN_OR_RETURN(validator->bleu_,
                     decode::ValidationBleu::Create(prepared, valid, validator->relations_.get(),
                                                    options.sentencepiece, options.decode));
  }
  if (options.exact_match) {
    ASSIGN_OR_RETURN(validator->exact_match_,
                     decode::ValidationExactMatch::Create(
                         prepared, valid, validator->relations_.get(), options.sentencepiece,
                         options.spider_tables, options.decode));
  }
  return validator;
}

absl::StatusOr<ValidationResult> Validator::Run(models::Seq2SeqImpl& model) const {
  ValidationResult result;
  ASSIGN_OR_RETURN(result.nll, Loss(model));
  if (bleu_ != nullptr) {
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(decode::ValidationBleuStats all, bleu_->DecodeSplit(model, *comm_));
    result.bleu = bleu_->Score(all).score;
    result.decode_seconds = SecondsSince(start);
    result.sentences = valid_->size();
  }
  if (exact_match_ != nullptr) {
    const auto start = std::chrono::steady_clock::now();
    ASSIGN_OR_RETURN(result.exact_match_stats, exact_match_->DecodeSplit(model, *comm_));
    result.exact_match = result.exact_match_stats.Percent();
    result.decode_seconds = SecondsSince(start);
    result.sentences = valid_->size();
  }
  return result;
}

absl::StatusOr<double> Validator::Loss(models::Seq2SeqImpl& model) const {
  if (valid_ == nullptr) return 0.0;
  model.eval();
  torch::NoGradGuard no_grad;
  torch::Tensor sums = torch::zeros({2}, torch::kDouble);
  for (const data::BatchPlan& plan : plan_) {
    const DeviceBatch batch =
        ToDevice(data::MakeBatch(*valid_, plan, special_, relations_.get()), device_);
    torch::Tensor logits = model.forward(batch.source, batch.target_input, batch.relations);
    torch::Tensor nll = torch::nn::functional::cross_entropy(
        logits.to(torch::kFloat).reshape({-1, logits.size(-1)}), batch.target_output.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions()
            .ignore_index(special_.pad)
            .reduction(torch::kSum));
    sums[0] += nll.to(torch::kDouble).cpu();
    sums[1] += static_cast<double>(batch.target_tokens);
  }
  RETURN_IF_ERROR(comm_->AllReduce(sums, comm::ReduceOp::kSum));
  model.train();
  return sums[0].item<double>() / std::max(1.0, sums[1].item<double>());
}

}  // namespace fathom::trainer
