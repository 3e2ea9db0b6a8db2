#include "decode/checkpoint_average.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "decode/model_loader.h"
#include "proto/config_io.h"

namespace fathom::decode {
namespace fs = std::filesystem;

absl::StatusOr<std::vector<std::string>> LastCheckpoints(const std::string& run_dir, int n) {
  const std::vector<int64_t> steps = checkpoint::ListCheckpointSteps(run_dir);
  if (steps.empty()) return absl::NotFoundError(absl::StrCat(run_dir, ": no checkpoints"));
  std::vector<std::string> dirs;
  for (size_t i = steps.size() > static_cast<size_t>(n) ? steps.size() - n : 0; i < steps.size();
       ++i) {
    dirs.push_back(absl::StrFormat("%s/checkpoints/%08d", run_dir, steps[i]));
  }
  return dirs;
}

absl::Status AverageCheckpoints(const std::vector<std::string>& inputs,
                                const std::string& output_run_dir) {
  if (inputs.empty()) return absl::InvalidArgumentError("no checkpoints to average");
  checkpoint::NamedTensors sum;
  std::vector<torch::ScalarType> dtypes;
  proto::TrainingState state;
  std::string first_dir, first_settings;
  int64_t newest = -1;
  for (const std::string& input : inputs) {
    ASSIGN_OR_RETURN(checkpoint::LoadedCheckpoint loaded, ReadCheckpointOrRun(input));
    proto::RunConfig config;
    RETURN_IF_ERROR(ParseTextProto(loaded.meta.state().config_text(),
                                   loaded.dir + "/meta.pb (config)", &config));
    // What must agree for an average to mean anything: architecture and vocabulary.
    const std::string settings = ConfigToText(config.model()) + ConfigToText(config.init()) +
                                 ConfigToText(config.data().sentencepiece());
    checkpoint::NamedTensors model;
    for (auto& [name, tensor] : loaded.tensors) {
      if (name.rfind("model.", 0) == 0) model.emplace_back(name, tensor);
    }
    if (first_dir.empty()) {
      first_dir = loaded.dir;
      first_settings = settings;
      for (auto& [name, tensor] : model) {
        sum.emplace_back(name, tensor.to(torch::kDouble));
        dtypes.push_back(tensor.scalar_type());
      }
    } else {
      if (settings != first_settings) {
        return absl::FailedPreconditionError(absl::StrCat(
            loaded.dir, " and ", first_dir, " have different model or vocabulary settings"));
      }
      if (model.size() != sum.size()) {
        return absl::FailedPreconditionError(
            absl::StrCat(loaded.dir, " and ", first_dir, " hold different tensors"));
      }
      for (size_t i = 0; i < model.size(); ++i) {
        if (model[i].first != sum[i].first || model[i].second.sizes() != sum[i].second.sizes()) {
          return absl::FailedPreconditionError(
              absl::StrCat(loaded.dir, ": tensor ", model[i].first, " does not match ", first_dir));
        }
        sum[i].second.add_(model[i].second.to(torch::kDouble));
      }
    }
    if (loaded.meta.state().step() > newest) {
      newest = loaded.meta.state().step();
      state = loaded.meta.state();
    }
  }
  checkpoint::NamedTensors averaged;
  const fs::path source_run = fs::path(first_dir).lexically_normal().parent_path().parent_path();
  for (size_t i = 0; i < sum.size(); ++i) {
    // Back to the dtype each tensor was saved in.
    averaged.emplace_back(sum[i].first,
                          (sum[i].second / static_cast<double>(inputs.size())).to(dtypes[i]));
  }
  state.clear_rng_state();
  RETURN_IF_ERROR(MakeDirs(output_run_dir));
  for (const char* file : {"spm.model", "spm.src.model", "spm.tgt.model", "config.pbtxt"}) {
    const std::string from = (source_run / file).string();
    if (!PathExists(from)) continue;
    ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(from));
    RETURN_IF_ERROR(WriteFileAtomic(output_run_dir + "/" + file, bytes));
  }
  return checkpoint::WriteCheckpoint(output_run_dir, newest, averaged, state);
}

}  // namespace fathom::decode
