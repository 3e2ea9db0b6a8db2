#include "decode/validation_exact_match.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "data/shard_format.h"
#include "data/shard_references.h"
#include "decode/distributed_decode.h"
#include "decode/shard_sources.h"
#include "decode/split_decoding.h"
#include "decode/sql_prediction.h"
#include "eval/sql/sql_scoring.h"

namespace fathom::decode {
namespace {

constexpr int kLevels = eval::kNumSpiderHardness;
constexpr int64_t kTensorSize = 3 + 2 * kLevels;

}  // namespace

torch::Tensor ToTensor(const ValidationExactMatchStats& stats, const torch::Device& device) {
  std::vector<int64_t> values = {stats.sentences, stats.matched, stats.pred_parse_failures};
  values.insert(values.end(), stats.hardness_total.begin(), stats.hardness_total.end());
  values.insert(values.end(), stats.hardness_matched.begin(), stats.hardness_matched.end());
  return torch::tensor(values, torch::kLong).to(device);
}

absl::StatusOr<ValidationExactMatchStats> ValidationExactMatchStatsFromTensor(
    const torch::Tensor& tensor) {
  if (tensor.scalar_type() != torch::kLong || tensor.dim() != 1 || tensor.numel() != kTensorSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation exact-match counts: expected int64 [", kTensorSize, "], got ",
                     c10::toString(tensor.scalar_type()), " ", c10::str(tensor.sizes())));
  }
  const torch::Tensor host = tensor.to(torch::kCPU).contiguous();
  const int64_t* values = host.data_ptr<int64_t>();
  ValidationExactMatchStats stats;
  stats.sentences = values[0];
  stats.matched = values[1];
  stats.pred_parse_failures = values[2];
  for (int l = 0; l < kLevels; ++l) {
    stats.hardness_total[l] = values[3 + l];
    stats.hardness_matched[l] = values[3 + kLevels + l];
  }
  return stats;
}

absl::StatusOr<std::unique_ptr<ValidationExactMatch>> ValidationExactMatch::Create(
    const std::string& prepared_dir, const data::ShardDataset& dataset,
    const data::RelationStore* relations, const proto::SentencePieceConfig& spm,
    const std::string& tables, const ValidationDecodeOptions& options) {
  const proto::ShardHeader& header = dataset.header();
  const std::string header_file = data::ShardHeaderFile(prepared_dir, header.split());
  if (header.db_id_size() != dataset.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat(header_file, ": records ", header.db_id_size(), " db_ids for ", dataset.size(),
                     " examples; exact match needs a Spider split (data.task "
                     "TEXT_TO_SQL; prepared by an older build: run `fathom prepare --overwrite`)"));
  }
  if (options.beam.beam < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("eval.beam_size: must be >= 1 (got ", options.beam.beam, ")"));
  }
  ASSIGN_OR_RETURN(data::Vocabulary vocab, LoadSplitTargetVocabulary(prepared_dir, dataset, spm));
  ASSIGN_OR_RETURN(std::vector<std::string> references,
                   data::ReadShardReferences(prepared_dir, dataset));
  ASSIGN_OR_RETURN(prepare::SpiderSchemas schemas, prepare::LoadSpiderTables(tables));
  // Every gold query once, against itself: a gold the scorer cannot read fails the set-up, not
  // the thousandth update's validation.
  const std::string references_file = data::ShardReferencesFile(prepared_dir, header.split());
  eval::SpiderExactMatchScorer check(schemas);
  for (size_t i = 0; i < references.size(); ++i) {
    const absl::Status added = check.Add(OneLine(references[i]), references[i], header.db_id(i));
    if (!added.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(references_file, ":", i + 1, " (db_id ",
                                                     header.db_id(i), "): ", added.message()));
    }
  }
  return std::unique_ptr<ValidationExactMatch>(
      new ValidationExactMatch(dataset, relations, std::move(vocab), std::move(references),
                               references_file, std::move(schemas), options));
}

ValidationExactMatch::ValidationExactMatch(
    const data::ShardDataset& dataset, const data::RelationStore* relations,
    data::Vocabulary target_vocab, std::vector<std::string> references, std::string references_file,
    prepare::SpiderSchemas schemas, const ValidationDecodeOptions& options)
    : dataset_(dataset),
      relations_(relations),
      target_vocab_(std::move(target_vocab)),
      references_(std::move(references)),
      references_file_(std::move(references_file)),
      schemas_(std::move(schemas)),
      options_(options) {
  const proto::VocabInfo& info = dataset.header().target_vocab();
  special_ = {info.pad_id(), info.bos_id(), info.eos_id()};
  options_.beam.nbest = 1;
  options_.beam.pad = special_.pad;
  options_.beam.bos = special_.bos;
  options_.beam.eos = special_.eos;
}

absl::StatusOr<ValidationExactMatchStats> ValidationExactMatch::DecodeSplit(
    models::Seq2SeqImpl& model, comm::Communicator& comm, const Progress& progress) const {
  const ShardSources sources(dataset_, relations_, special_);
  const RankDecoded mine = DecodeRankShare(model, sources, options_, comm, progress);
  ASSIGN_OR_RETURN(const ValidationExactMatchStats stats,
                   Statistics(mine.sentences, mine.hypotheses, nullptr));
  torch::Tensor summed = ToTensor(stats);
  RETURN_IF_ERROR(comm.AllReduce(summed, comm::ReduceOp::kSum));
  return ValidationExactMatchStatsFromTensor(summed);
}

absl::StatusOr<ValidationExactMatchStats> ValidationExactMatch::Decode(
    models::Seq2SeqImpl& model, absl::Span<const int64_t> examples,
    std::vector<std::string>* predictions, const Progress& progress) const {
  ASSIGN_OR_RETURN(
      const SplitDecoded split,
      DecodeSplitExamples(model, dataset_, relations_, special_, examples, options_, progress));
  std::vector<std::string> decoded;
  ASSIGN_OR_RETURN(ValidationExactMatchStats stats, Statistics(split.sorted, split.hyps, &decoded));
  if (predictions != nullptr) *predictions = InExampleOrder(examples, split.sorted, decoded);
  return stats;
}

absl::StatusOr<ValidationExactMatchStats> ValidationExactMatch::Statistics(
    absl::Span<const int64_t> examples, const std::vector<std::vector<Hypothesis>>& hyps,
    std::vector<std::string>* predictions) const {
  eval::SpiderExactMatchScorer scorer(schemas_);
  for (size_t i = 0; i < examples.size(); ++i) {
    const int64_t e = examples[i];
    // What `fathom translate --spider_json` writes and `fathom sql-eval` reads back.
    const std::string sql =
        hyps[i].empty() ? std::string() : OneLine(target_vocab_.Decode(hyps[i].front().tokens));
    const std::string& db_id = dataset_.header().db_id(static_cast<int>(e));
    const absl::Status added = scorer.Add(sql, references_[e], db_id);
    if (!added.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(references_file_, ":", e + 1, " (db_id ", db_id, "): ", added.message()));
    }
    if (predictions != nullptr) predictions->push_back(sql);
  }
  const eval::ExactMatchScore& score = scorer.score();
  ValidationExactMatchStats stats;
  stats.sentences = score.total;
  stats.matched = score.matched;
  stats.pred_parse_failures = score.pred_parse_failures;
  for (int l = 0; l < kLevels; ++l) {
    stats.hardness_total[l] = score.hardness_total[l];
    stats.hardness_matched[l] = score.hardness_matched[l];
  }
  return stats;
}

}  // namespace fathom::decode
