// ModuleTensors and LoadIntoModule: a module's state as named tensors and back.
#include <torch/nn/module.h>
#include <torch/types.h>

#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "checkpoint/checkpoint_io.h"

namespace fathom::checkpoint {
namespace {

// Parameters then buffers, names without prefix; undefined slots (optional biases) are skipped.
std::vector<std::pair<std::string, torch::Tensor>> ModuleSlots(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> slots;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (item.value().defined()) slots.emplace_back(item.key(), item.value());
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    if (item.value().defined()) slots.emplace_back(item.key(), item.value());
  }
  return slots;
}

std::string Shape(const torch::Tensor& t) {
  return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]");
}

// "a, b, c and 7 more": a renamed layer can make hundreds of names differ.
std::string NameList(const std::vector<std::string>& names) {
  constexpr size_t kShown = 10;
  std::vector<std::string> shown(names.begin(), names.begin() + std::min(names.size(), kShown));
  std::string text = absl::StrJoin(shown, ", ");
  if (names.size() > kShown) absl::StrAppend(&text, " and ", names.size() - kShown, " more");
  return text;
}

}  // namespace

NamedTensors ModuleTensors(const torch::nn::Module& module, const std::string& prefix) {
  NamedTensors tensors;
  for (auto& [name, tensor] : ModuleSlots(module)) {
    tensors.emplace_back(prefix + name, tensor.detach());
  }
  return tensors;
}

absl::Status LoadIntoModule(torch::nn::Module& module, const NamedTensors& tensors,
                            const std::string& prefix) {
  std::unordered_map<std::string, const torch::Tensor*> sources;
  std::vector<std::string> unexpected, missing, mismatched, repeated;
  for (const auto& [name, tensor] : tensors) {
    if (!absl::StartsWith(name, prefix)) continue;
    if (!sources.emplace(name.substr(prefix.size()), &tensor).second) repeated.push_back(name);
  }
  const auto slots = ModuleSlots(module);
  std::unordered_set<std::string> slot_names;
  for (const auto& [name, target] : slots) {
    slot_names.insert(name);
    const auto found = sources.find(name);
    if (found == sources.end()) {
      missing.push_back(prefix + name);
      continue;
    }
    const torch::Tensor& source = *found->second;
    if (!source.defined() || source.sizes() != target.sizes() ||
        source.scalar_type() != target.scalar_type()) {
      mismatched.push_back(absl::StrCat(
          prefix, name, " (checkpoint ",
          source.defined() ? absl::StrCat(c10::toString(source.scalar_type()), Shape(source))
                           : "undefined",
          ", module ", c10::toString(target.scalar_type()), Shape(target), ")"));
    }
  }
  for (const auto& [name, tensor] : tensors) {
    if (!absl::StartsWith(name, prefix)) continue;
    const std::string key = name.substr(prefix.size());
    // Once per name: a repeated one is already reported as such.
    if (slot_names.count(key) == 0 && sources.at(key) == &tensor) unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty() || !repeated.empty()) {
    std::vector<std::string> parts;
    auto describe = [&parts](const char* what, const std::vector<std::string>& names) {
      if (!names.empty()) parts.push_back(absl::StrCat(what, ": ", NameList(names)));
    };
    describe("missing from the checkpoint", missing);
    describe("not in the module", unexpected);
    describe("dtype or shape differs", mismatched);
    describe("given twice", repeated);
    return absl::InvalidArgumentError(absl::StrCat("cannot load tensors \"", prefix,
                                                   "*\" into the module (nothing was copied); ",
                                                   absl::StrJoin(parts, "; ")));
  }
  // Parameters are leaves that require grad; copying into them must not be recorded.
  torch::NoGradGuard no_grad;
  for (const auto& [name, target] : slots) {
    torch::Tensor destination = target;
    destination.copy_(*sources.at(name));  // copy_ moves the bytes to the target's device
  }
  return absl::OkStatus();
}

}  // namespace fathom::checkpoint
