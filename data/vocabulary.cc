#include "data/vocabulary.h"

#include <string_view>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "data/spm_bridge.h"

namespace fathom::data {

Vocabulary::Vocabulary(std::string bytes, std::unique_ptr<spm::Processor> processor)
    : model_bytes_(std::move(bytes)), processor_(std::move(processor)) {
  crc32c_ = Crc32c(model_bytes_);
}
Vocabulary::Vocabulary(Vocabulary&&) noexcept = default;
Vocabulary& Vocabulary::operator=(Vocabulary&&) noexcept = default;
Vocabulary::~Vocabulary() = default;

absl::StatusOr<Vocabulary> Vocabulary::FromBytes(std::string model_bytes, const std::string& name,
                                                 const proto::SentencePieceConfig& expected) {
  std::string error;
  spm::Backend* backend = spm::GetBackend(&error);
  if (backend == nullptr) return absl::FailedPreconditionError(error);
  auto processor = backend->Load(model_bytes, &error);
  if (processor == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": not a SentencePiece model (", error, ")"));
  }
  const std::pair<const char*, std::pair<int, int>> ids[] = {
      {"pad_id", {processor->pad_id(), expected.pad_id()}},
      {"unk_id", {processor->unk_id(), expected.unk_id()}},
      {"bos_id", {processor->bos_id(), expected.bos_id()}},
      {"eos_id", {processor->eos_id(), expected.eos_id()}},
  };
  for (const auto& [field, pair] : ids) {
    if (pair.first != pair.second) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": SentencePiece model has ", field, " ", pair.first, " but data.sentencepiece.",
          field, " is ", pair.second, " (train the model with --", field, "=", pair.second,
          " or set the config to match)"));
    }
  }
  return Vocabulary(std::move(model_bytes), std::move(processor));
}

absl::StatusOr<Vocabulary> Vocabulary::Load(const std::string& path,
                                            const proto::SentencePieceConfig& expected) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  return FromBytes(std::move(bytes), path, expected);
}

absl::StatusOr<Vocabulary> Vocabulary::Train(const std::vector<std::string>& sentences,
                                             const proto::SentencePieceConfig& config,
                                             int threads) {
  if (sentences.empty()) {
    return absl::InvalidArgumentError("no sentences to train a SentencePiece model on");
  }
  spm::TrainOptions options;
  options.model_type = config.model_type() == proto::SentencePieceConfig::BPE ? "bpe" : "unigram";
  options.vocab_size = config.vocab_size();
  options.character_coverage = config.character_coverage();
  options.pad_id = config.pad_id();
  options.unk_id = config.unk_id();
  options.bos_id = config.bos_id();
  options.eos_id = config.eos_id();
  options.num_threads = threads;
  std::string bytes;
  std::string load_error;
  spm::Backend* backend = spm::GetBackend(&load_error);
  if (backend == nullptr) return absl::FailedPreconditionError(load_error);
  const std::string error = backend->Train(sentences, options, &bytes);
  if (!error.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "SentencePiece training failed (data.sentencepiece.vocab_size = ", config.vocab_size(),
        " on ", sentences.size(), " sentences): ", error));
  }
  return FromBytes(std::move(bytes), "trained SentencePiece model", config);
}

void Vocabulary::Encode(absl::string_view text, std::vector<int>* ids) const {
  processor_->Encode(std::string_view(text.data(), text.size()), ids);
}
std::string Vocabulary::Decode(const std::vector<int>& ids) const {
  return processor_->Decode(ids);
}
int Vocabulary::size() const { return processor_->Size(); }
int Vocabulary::pad_id() const { return processor_->pad_id(); }
int Vocabulary::unk_id() const { return processor_->unk_id(); }
int Vocabulary::bos_id() const { return processor_->bos_id(); }
int Vocabulary::eos_id() const { return processor_->eos_id(); }
std::string Vocabulary::IdToPiece(int id) const { return processor_->IdToPiece(id); }

proto::VocabInfo Vocabulary::Info(const std::string& model_file) const {
  proto::VocabInfo info;
  info.set_model_file(model_file);
  info.set_crc32c(crc32c_);
  info.set_size(size());
  info.set_pad_id(pad_id());
  info.set_unk_id(unk_id());
  info.set_bos_id(bos_id());
  info.set_eos_id(eos_id());
  return info;
}

}  // namespace fathom::data
