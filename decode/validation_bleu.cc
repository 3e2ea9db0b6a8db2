#include "eval/translate/validation_bleu.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "data/batch.h"
#include "data/shard_format.h"
#include "data/shard_references.h"
#include "eval/bleu/python_text.h"
#include "eval/translate/decode_batches.h"

namespace fathom::eval {
namespace {

// Restores a module's train/eval mode on scope exit (beam search switches it to eval).
class ModeGuard {
 public:
  explicit ModeGuard(torch::nn::Module& module)
      : module_(module), training_(module.is_training()) {}
  ~ModeGuard() { module_.train(training_); }

 private:
  torch::nn::Module& module_;
  bool training_;
};

// Source ids (+ EOS) and relation ids of `rows`, cut to `width` columns: a source longer than the
// model's positions keeps its first width - 1 pieces and EOS, as `fathom translate` cuts it.
struct DecodeInput {
  torch::Tensor source;
  torch::Tensor relations;
};

DecodeInput MakeDecodeInput(const data::ShardDataset& dataset, const data::RelationStore* relations,
                            const std::vector<int64_t>& rows, const data::SpecialIds& special,
                            int64_t width, const torch::Device& device) {
  data::BatchPlan plan;
  plan.examples = rows;
  const data::Batch batch = data::MakeBatch(dataset, plan, special, relations);
  DecodeInput input;
  input.source = torch::from_blob(const_cast<int32_t*>(batch.source.data()),
                                  {batch.size, batch.source_length}, torch::kInt)
                     .to(torch::kLong);
  if (!batch.relations.empty()) {
    input.relations =
        torch::from_blob(const_cast<uint8_t*>(batch.relations.data()),
                         {batch.size, batch.source_length, batch.source_length}, torch::kUInt8)
            .to(torch::kLong);
  }
  if (batch.source_length > width) {
    input.source = input.source.narrow(1, 0, width).clone();
    for (int64_t r = 0; r < batch.size; ++r) {
      if (batch.source_lengths[r] > width) input.source[r][width - 1] = special.eos;
    }
    if (input.relations.defined()) {
      // EOS relates to nothing (MakeBatch leaves its row and column 0).
      input.relations = input.relations.narrow(1, 0, width).narrow(2, 0, width).clone();
      for (int64_t r = 0; r < batch.size; ++r) {
        if (batch.source_lengths[r] <= width) continue;
        input.relations[r].select(0, width - 1).zero_();
        input.relations[r].select(1, width - 1).zero_();
      }
    }
  }
  input.source = input.source.to(device);
  if (input.relations.defined()) input.relations = input.relations.to(device);
  return input;
}

}  // namespace

ValidationDecodeOptions DecodeOptionsFrom(const proto::RunConfig& config) {
  ValidationDecodeOptions options;
  const proto::EvalConfig& eval = config.eval();
  options.beam.beam = eval.beam_size();
  options.beam.nbest = 1;
  options.beam.alpha = eval.length_penalty();
  options.beam.max_len_a = eval.max_len_a();
  options.beam.max_len_b = eval.max_len_b();
  options.max_tokens = config.data().batch().max_tokens();
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
                   BleuStats::FromVector(absl::MakeConstSpan(values + 1, host.numel() - 1)));
  return stats;
}

std::vector<int64_t> ExamplesOf(const std::vector<data::BatchPlan>& plans) {
  std::vector<int64_t> examples;
  for (const data::BatchPlan& plan : plans)
    examples.insert(examples.end(), plan.examples.begin(), plan.examples.end());
  return examples;
}

absl::StatusOr<std::unique_ptr<ValidationBleu>> ValidationBleu::Create(
    const std::string& prepared_dir, const data::ShardDataset& dataset,
    const data::RelationStore* relations, const proto::SentencePieceConfig& spm,
    const ValidationDecodeOptions& options) {
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
  ASSIGN_OR_RETURN(std::vector<std::string> references,
                   data::ReadShardReferences(prepared_dir, dataset));
  for (size_t i = 0; i < references.size(); ++i) {
    if (PythonRstrip(references[i]).empty()) {
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

absl::StatusOr<ValidationBleuStats> ValidationBleu::Decode(models::Seq2SeqImpl& model,
                                                           absl::Span<const int64_t> examples,
                                                           std::vector<std::string>* hypotheses,
                                                           const Progress& progress) const {
  for (int64_t e : examples) {
    if (e < 0 || e >= dataset_.size()) {
      return absl::OutOfRangeError(absl::StrCat("validation example ", e, " is outside split \"",
                                                dataset_.header().split(), "\" (", dataset_.size(),
                                                " examples)"));
    }
  }
  ModeGuard mode(model);
  const torch::Device device = model.parameters().front().device();
  // Room for EOS within the positions the model knows, as `fathom translate` truncates.
  const int64_t width = model.options().max_positions;
  // Ascending example order = the order of the lines `fathom translate` reads, so ties in length
  // fall into the same batches.
  std::vector<int64_t> sorted(examples.begin(), examples.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> lengths(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    lengths[i] = std::min<int64_t>(dataset_.source_length(sorted[i]), width - 1);
  }
  std::vector<std::string> decoded(sorted.size());
  int64_t done = 0;
  for (const std::vector<int64_t>& positions :
       PlanDecodeBatches(lengths, options_.beam.beam, options_.max_tokens)) {
    std::vector<int64_t> rows(positions.size());
    for (size_t r = 0; r < positions.size(); ++r) rows[r] = sorted[positions[r]];
    const DecodeInput input = MakeDecodeInput(dataset_, relations_, rows, special_, width, device);
    const std::vector<std::vector<Hypothesis>> hyps =
        BeamSearch(model, input.source, options_.beam, input.relations);
    for (size_t r = 0; r < positions.size(); ++r) {
      if (!hyps[r].empty()) decoded[positions[r]] = target_vocab_.Decode(hyps[r].front().tokens);
    }
    done += static_cast<int64_t>(rows.size());
    if (progress) progress(done, static_cast<int64_t>(sorted.size()));
  }

  ValidationBleuStats stats;
  BleuScorer scorer(options_.bleu);
  for (size_t i = 0; i < sorted.size(); ++i) {
    // What `fathom score` reads back from the files: lines without trailing whitespace.
    const absl::string_view reference = PythonRstrip(references_[sorted[i]]);
    RETURN_IF_ERROR(scorer.Add(PythonRstrip(decoded[i]), {reference}));
  }
  stats.bleu = scorer.stats();
  stats.sentences = static_cast<int64_t>(sorted.size());
  if (hypotheses != nullptr) {
    hypotheses->clear();
    for (int64_t e : examples) {
      const size_t at = std::lower_bound(sorted.begin(), sorted.end(), e) - sorted.begin();
      hypotheses->push_back(decoded[at]);
    }
  }
  return stats;
}

}  // namespace fathom::eval
