// Helpers of the checkpoint_*_test binaries: damaging files on purpose and comparing tensors
// bit for bit.
#ifndef FATHOM_TESTS_CHECKPOINT_TEST_UTIL_H_
#define FATHOM_TESTS_CHECKPOINT_TEST_UTIL_H_

#include <torch/torch.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "proto/checkpoint.pb.h"

namespace fathom::testing {

// Same dtype, shape and bytes: NaN payloads and -0.0 included, which torch::equal would not see.
inline bool BitEqual(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const torch::Tensor x = a.cpu().contiguous();
  const torch::Tensor y = b.cpu().contiguous();
  const size_t bytes = static_cast<size_t>(x.numel()) * x.element_size();
  return bytes == 0 || std::memcmp(x.data_ptr(), y.data_ptr(), bytes) == 0;
}

inline void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  file.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  file.read(&c, 1);
  c = static_cast<char>(c ^ 0x40);
  file.seekp(static_cast<std::streamoff>(offset));
  file.write(&c, 1);
  if (!file) throw std::runtime_error("cannot flip a byte of " + path);
}

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Entries of a directory whose names contain `part`.
inline std::vector<std::string> EntriesContaining(const std::string& dir, const std::string& part) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.find(part) != std::string::npos) found.push_back(name);
  }
  return found;
}

// Every field of TrainingState set to something recognisable.
inline proto::TrainingState FullTrainingState() {
  proto::TrainingState state;
  state.set_epoch(3);
  state.mutable_iterator()->set_epoch(3);
  state.mutable_iterator()->set_index(41);
  state.add_rng_state(std::string("rank0\0\xff", 7));
  state.add_rng_state("rank1-state");
  state.set_loss_scale(65536.0);
  state.add_dt_fixup_mu(1.25);
  state.add_dt_fixup_mu(-0.5);
  state.set_config_text("model { layers: 18 }\n");
  state.set_world_size(2);
  state.set_wall_clock_seconds(1234.5);
  state.set_best_metric(27.3);
  return state;
}

}  // namespace fathom::testing

#endif  // FATHOM_TESTS_CHECKPOINT_TEST_UTIL_H_
