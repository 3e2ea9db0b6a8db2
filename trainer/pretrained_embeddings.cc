#include "trainer/pretrained_embeddings.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "data/pretrained_vectors.h"
#include "data/vocabulary.h"
#include "models/initialisation.h"

namespace fathom::trainer {

absl::StatusOr<std::optional<PretrainedEmbeddings>> LoadConfiguredPretrained(
    const proto::RunConfig& config, const std::string& prepared_dir,
    const proto::ShardHeader& header) {
  const std::string& path = config.model().pretrained_embeddings();
  if (path.empty()) return std::nullopt;
  ASSIGN_OR_RETURN(
      data::Vocabulary vocab,
      data::Vocabulary::Load(absl::StrCat(prepared_dir, "/", header.source_vocab().model_file()),
                             config.data().sentencepiece()));
  ASSIGN_OR_RETURN(data::PretrainedTable table, data::LoadPretrainedVectors(path, vocab));
  if (table.covered_count == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.pretrained_embeddings: ", path, " covers none of the ", table.vocab_size,
        " source pieces (GloVe is lower-cased English; is it the source language?)"));
  }
  PretrainedEmbeddings pretrained;
  pretrained.path = path;
  pretrained.vectors =
      torch::from_blob(table.values.data(), {table.vocab_size, table.dim}, torch::kFloat).clone();
  pretrained.covered = torch::from_blob(table.covered.data(), {table.vocab_size}, torch::kUInt8)
                           .to(torch::kBool)
                           .clone();
  pretrained.covered_count = table.covered_count;
  pretrained.file_words = table.file_words;
  return pretrained;
}

double ApplyPretrained(models::Seq2SeqImpl& model, const PretrainedEmbeddings& pretrained,
                       bool standardise) {
  const torch::Device device = model.source_embeddings->table.device();
  const double std =
      models::LoadPretrainedEmbeddings(*model.source_embeddings, pretrained.vectors.to(device),
                                       pretrained.covered.to(device), standardise);
  FLOG(Info) << absl::StrFormat(
      "pre-trained embeddings %s: %d of %d source pieces covered (%.1f%%; %d vectors of width %d "
      "in the "
      "file), %s; table std %.4f",
      pretrained.path, pretrained.covered_count, pretrained.vectors.size(0),
      100.0 * pretrained.covered_count / std::max<int64_t>(1, pretrained.vectors.size(0)),
      pretrained.file_words, pretrained.width(),
      standardise ? "standardised to the random initialisation's std" : "raw", std);
  return std;
}

}  // namespace fathom::trainer
