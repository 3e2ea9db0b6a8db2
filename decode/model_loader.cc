#include "decode/model_loader.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "models/model_options.h"
#include "proto/config_io.h"

namespace fathom::decode {
namespace fs = std::filesystem;

absl::StatusOr<checkpoint::LoadedCheckpoint> ReadCheckpointOrRun(const std::string& path) {
  if (PathExists(path + "/meta.pb")) return checkpoint::ReadCheckpoint(path);
  if (PathExists(path + "/checkpoints")) {
    std::vector<std::string> skipped;
    auto loaded = checkpoint::ReadLatestValid(path, &skipped);
    if (!loaded.ok() && !skipped.empty()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat(loaded.status().message(), " (", skipped.front(), ")"));
    }
    return loaded;
  }
  return absl::NotFoundError(
      absl::StrCat(path, ": neither a checkpoint (meta.pb) nor a run directory (checkpoints/)"));
}

absl::StatusOr<InferenceModel> LoadInferenceModel(const std::string& path,
                                                  const torch::Device& device) {
  ASSIGN_OR_RETURN(checkpoint::LoadedCheckpoint loaded, ReadCheckpointOrRun(path));
  InferenceModel out;
  out.checkpoint_dir = loaded.dir;
  out.step = loaded.meta.state().step();
  // RUN/checkpoints/STEP -> RUN
  out.run_dir = fs::path(loaded.dir).lexically_normal().parent_path().parent_path().string();
  RETURN_IF_ERROR(ParseTextProto(loaded.meta.state().config_text(),
                                 loaded.dir + "/meta.pb (config)", &out.config));
  const auto& spm = out.config.data().sentencepiece();
  const bool joint = PathExists(out.run_dir + "/spm.model");
  const std::string source_spm = out.run_dir + (joint ? "/spm.model" : "/spm.src.model");
  const std::string target_spm = out.run_dir + (joint ? "/spm.model" : "/spm.tgt.model");
  ASSIGN_OR_RETURN(data::Vocabulary source, data::Vocabulary::Load(source_spm, spm));
  out.source_vocab = std::make_shared<data::Vocabulary>(std::move(source));
  if (joint) {
    out.target_vocab = out.source_vocab;
  } else {
    ASSIGN_OR_RETURN(data::Vocabulary target, data::Vocabulary::Load(target_spm, spm));
    out.target_vocab = std::make_shared<data::Vocabulary>(std::move(target));
  }
  // Shapes the config cannot tell: embedding rows and relation count, from the tensors.
  int64_t source_rows = -1, target_rows = -1, relations = 0, embedding_dim = 0;
  for (const auto& [name, tensor] : loaded.tensors) {
    if (name == "model.source_embeddings.table") {
      source_rows = tensor.size(0);
      embedding_dim = tensor.size(1);
    }
    if (name == "model.target_embeddings.table") target_rows = tensor.size(0);
    if (name.find("self_attention.relation_k") != std::string::npos) relations = tensor.size(0);
  }
  if (target_rows < 0) target_rows = source_rows;
  if (source_rows != out.source_vocab->size() || target_rows != out.target_vocab->size()) {
    return absl::FailedPreconditionError(absl::StrCat(
        loaded.dir, ": the checkpoint's vocabulary (", source_rows, " / ", target_rows,
        " pieces) does not match the SentencePiece model ", source_spm, " (",
        out.source_vocab->size(), ") and ", target_spm, " (", out.target_vocab->size(), ")"));
  }
  ASSIGN_OR_RETURN(models::ModelOptions options,
                   models::ModelOptions::FromProto(
                       out.config.model(), out.config.init(), source_rows, target_rows,
                       out.source_vocab->pad_id(), relations, embedding_dim));
  options.fused_kernels = out.config.distributed().fused_kernels();
  out.model = models::Seq2Seq(options);
  RETURN_IF_ERROR(checkpoint::LoadIntoModule(*out.model, loaded.tensors, "model."));
  out.model->to(device);
  out.model->eval();
  return out;
}

}  // namespace fathom::decode
