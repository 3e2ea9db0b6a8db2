#include "decode/validation_bleu.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "data/batch.h"
#include "data/shard_format.h"
#include "data/shard_references.h"
#include "decode/distributed_decode.h"
#include "decode/shard_sources.h"
#include "decode/split_decoding.h"
#include "eval/bleu/python_text.h"

namespace fathom::decode {

ValidationDecodeOptions ValidationDecodeOptions::FromProto(const proto::RunConfig& config) {
  ValidationDecodeOptions options;
  const proto::EvalConfig& eval = config.eval();
  options.beam.beam = eval.beam_size();
  options.beam.nbest = 1;
  options.beam.alpha = eval.length_penalty();
  options.beam.max_len_a = eval.max_len_a();
  options.beam.max_len_b = eval.max_len_b();
  options.max_tokens = eval.decode_max_tokens();
  return options;
}

torch::Tensor ToTensor(const ValidationBleuStats& stats, const torch::Device& device) {
  std::vector<int64_t> values = {stats.sentences};
  const std::vector<int64_t> bleu = stats.bleu.ToVector();
  values.insert(values.end(), bleu.begin(), bleu.end());
  return torch::tensor(values, torch::kLong).to(device);
}

absl::StatusOr<ValidationBleuStats> ValidationBleuStatsFromTensor(const torch::Tensor& tensor) {
  if (tensor.scalar_type() != torch::kLong || tensor.dim() != 1 || tensor.numel() < 5 ||
      tensor.numel() % 2 != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation BLEU statistics: expected int64 [3 + 2N], got ",
                     c10::toString(tensor.scalar_type()), " ", c10::str(tensor.sizes())));
  }
  const torch::Tensor host = tensor.to(torch::kCPU).contiguous();
  const int64_t* values = host.data_ptr<int64_t>();
  ValidationBleuStats stats;
  stats.sentences = values[0];
  ASSIGN_OR_RETURN(stats.bleu,
                   eval::BleuStats::FromVector(absl::MakeConstSpan(values + 1, host.numel() - 1)));
  return stats;
}

std::vector<int64_t> ExamplesOf(const std::vector<data::BatchPlan>& plans) {
  std::vector<int64_t> examples;
  for (const data::BatchPlan& plan : plans)
    examples.insert(examples.end(), plan.examples.begin(), plan.examples.end());
  return examples;
}

absl::StatusOr<data::Vocabulary> LoadSplitTargetVocabulary(const std::string& prepared_dir,
                                                           const data::ShardDataset& dataset,
                                                           const proto::SentencePieceConfig& spm) {
  const proto::VocabInfo& info = dataset.header().target_vocab();
  const std::string model_path = absl::StrCat(prepared_dir, "/", info.model_file());
  ASSIGN_OR_RETURN(data::Vocabulary vocab, data::Vocabulary::Load(model_path, spm));
  if (vocab.crc32c() != info.crc32c() || vocab.size() != info.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat(model_path, ": not the SentencePiece model ",
                     data::ShardHeaderFile(prepared_dir, dataset.header().split()),
                     " was encoded with (", vocab.size(), " pieces, CRC-32C ", vocab.crc32c(),
                     "; the header records ", info.size(), ", ", info.crc32c(), ")"));
  }
  return vocab;
}

absl::StatusOr<std::unique_ptr<ValidationBleu>> ValidationBleu::Create(
    const std::string& prepared_dir, const data::ShardDataset& dataset,
    const data::RelationStore* relations, const proto::SentencePieceConfig& spm,
    const ValidationDecodeOptions& options) {
  ASSIGN_OR_RETURN(data::Vocabulary vocab, LoadSplitTargetVocabulary(prepared_dir, dataset, spm));
  ASSIGN_OR_RETURN(std::vector<std::string> references,
                   data::ReadShardReferences(prepared_dir, dataset));
  for (size_t i = 0; i < references.size(); ++i) {
    if (eval::PythonRstrip(references[i]).empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          data::ShardReferencesFile(prepared_dir, dataset.header().split()), ":", i + 1,
          ": empty reference (BLEU needs one; prepare with data.filter.drop_empty)"));
    }
  }
  if (options.beam.beam < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("eval.beam_size: must be >= 1 (got ", options.beam.beam, ")"));
  }
  return std::unique_ptr<ValidationBleu>(
      new ValidationBleu(dataset, relations, std::move(vocab), std::move(references), options));
}

ValidationBleu::ValidationBleu(const data::ShardDataset& dataset,
                               const data::RelationStore* relations, data::Vocabulary target_vocab,
                               std::vector<std::string> references,
                               const ValidationDecodeOptions& options)
    : dataset_(dataset),
      relations_(relations),
      target_vocab_(std::move(target_vocab)),
      references_(std::move(references)),
      options_(options) {
  const proto::VocabInfo& info = dataset.header().target_vocab();
  special_ = {info.pad_id(), info.bos_id(), info.eos_id()};
  options_.beam.nbest = 1;
  options_.beam.pad = special_.pad;
  options_.beam.bos = special_.bos;
  options_.beam.eos = special_.eos;
}

absl::StatusOr<ValidationBleuStats> ValidationBleu::DecodeSplit(models::Seq2SeqImpl& model,
                                                                comm::Communicator& comm,
                                                                const Progress& progress) const {
  const ShardSources sources(dataset_, relations_, special_);
  const RankDecoded mine = DecodeRankShare(model, sources, options_, comm, progress);
  ASSIGN_OR_RETURN(const ValidationBleuStats stats,
                   Statistics(mine.sentences, mine.hypotheses, nullptr));
  torch::Tensor summed = ToTensor(stats);
  RETURN_IF_ERROR(comm.AllReduce(summed, comm::ReduceOp::kSum));
  return ValidationBleuStatsFromTensor(summed);
}

absl::StatusOr<ValidationBleuStats> ValidationBleu::Decode(models::Seq2SeqImpl& model,
                                                           absl::Span<const int64_t> examples,
                                                           std::vector<std::string>* hypotheses,
                                                           const Progress& progress) const {
  ASSIGN_OR_RETURN(
      const SplitDecoded split,
      DecodeSplitExamples(model, dataset_, relations_, special_, examples, options_, progress));
  std::vector<std::string> decoded;
  ASSIGN_OR_RETURN(ValidationBleuStats stats, Statistics(split.sorted, split.hyps, &decoded));
  if (hypotheses != nullptr) *hypotheses = InExampleOrder(examples, split.sorted, decoded);
  return stats;
}

absl::StatusOr<ValidationBleuStats> ValidationBleu::Statistics(
    absl::Span<const int64_t> examples, const std::vector<std::vector<Hypothesis>>& hyps,
    std::vector<std::string>* decoded) const {
  ValidationBleuStats stats;
  eval::BleuScorer scorer(options_.bleu);
  for (size_t i = 0; i < examples.size(); ++i) {
    const std::string text =
        hyps[i].empty() ? std::string() : target_vocab_.Decode(hyps[i].front().tokens);
    // What `fathom score` reads back from the files: lines without trailing whitespace.
    const absl::string_view reference = eval::PythonRstrip(references_[examples[i]]);
    RETURN_IF_ERROR(scorer.Add(eval::PythonRstrip(text), {reference}));
    if (decoded != nullptr) decoded->push_back(text);
  }
  stats.bleu = scorer.stats();
  stats.sentences = static_cast<int64_t>(examples.size());
  return stats;
}

}  // namespace fathom::decode
