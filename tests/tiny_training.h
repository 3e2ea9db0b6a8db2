// A tiny deterministic model and batches for the step-level training tests (header-only: each test
// binary that includes it links the trainer anyway).
#ifndef FATHOM_TESTS_TINY_TRAINING_H_
#define FATHOM_TESTS_TINY_TRAINING_H_

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/batch.h"
#include "gtest/gtest.h"
#include "models/seq2seq.h"
#include "proto/config_io.h"
#include "tests/test_util.h"
#include "trainer/device_batch.h"
#include "trainer/optimizer.h"
#include "trainer/step_runner.h"

namespace fathom::testing {

// The tiny run of train_golden_test (50 updates) and train_step_equivalence_test (200): 2+2
// layers, d 32, dropout 0.1, a short warm-up so that the schedule shapes the updates. The whole
// config apart from paths and what each test adds.
inline proto::RunConfig TinyRunConfig(int64_t max_steps) {
  constexpr char kText[] = R"pb(
    seed: 1
    data { batch { max_tokens: 512 } }
    model {
      encoder_layers: 2
      decoder_layers: 2
      d_model: 32
      heads: 4
      ffn_dim: 64
      dropout: 0.1
      max_positions: 128
    }
    optim { lr: 1e-3 warmup_steps: 8 }
    eval { log_every_steps: 10 valid_every_steps: 1000 }
    checkpoint { save_every_steps: 1000 }
    distributed { threads: 1 }
  )pb";
  proto::RunConfig config;
  const absl::Status parsed = ParseTextProto(kText, "TinyRunConfig", &config);
  TORCH_CHECK(parsed.ok(), parsed.ToString());
  config.mutable_optim()->set_max_steps(max_steps);
  return config;
}

// TinyRunConfig's data: the first 400 Multi30k training pairs with a 300-piece joint
// SentencePiece model trained on one thread (the same vocabulary on any machine), prepared once
// per test binary in PREPARED = TinyRunData().File("prepared").
inline const TempDir& TinyRunData() {
  static const TempDir* dir = [] {
    auto* made = new TempDir;
    const std::string m30k = SharedDataDir() + "/translation/multi30k/";
    WriteLines(made->File("train.de"), ReadGzipLines(m30k + "train.de.gz", 400));
    WriteLines(made->File("train.en"), ReadGzipLines(m30k + "train.en.gz", 400));
    WriteTextFile(made->File("prepare.pbtxt"),
                  absl::StrCat("data { split { name: \"train\" source: \"", made->File("train.de"),
                               "\" target: \"", made->File("train.en"), "\" } prepared_dir: \"",
                               made->File("prepared"),
                               "\" sentencepiece { vocab_size: 300 } encode_threads: 1 }\n"));
    const CommandResult prepared = RunFathom("prepare --config " + made->File("prepare.pbtxt"));
    if (prepared.exit_code != 0) {
      ADD_FAILURE() << "fathom prepare failed:\n" << prepared.output;
    }
    return made;
  }();
  return *dir;
}

inline models::ModelOptions TinyModelOptions() {
  models::ModelOptions o;
  o.source_vocab = o.target_vocab = 40;
  o.encoder_layers = o.decoder_layers = 2;
  o.d_model = 32;
  o.heads = 4;
  o.ffn_dim = 64;
  o.dropout = 0.0;  // runs compared with each other must draw nothing random
  o.max_positions = 64;
  o.embedding_dim = 32;
  o.init = proto::InitConfig::PRE_LN;
  o.sharing = proto::ModelConfig::TIE_ALL;
  return o;
}

// Batch `step` of rank `rank`: deterministic, with padding, lengths differing by rank.
inline trainer::DeviceBatch TinyBatch(int rank, int step) {
  torch::manual_seed(1000 * step + rank);
  data::Batch b;
  b.size = 3 + rank;
  b.source_length = 6 + rank;
  b.target_length = 5 + 2 * rank;
  auto fill = [&](std::vector<int32_t>& v, int64_t len, std::vector<int32_t>& lengths) {
    v.assign(b.size * len, 0);
    lengths.resize(b.size);
    for (int64_t r = 0; r < b.size; ++r) {
      const int64_t real = len - (r % 2);
      lengths[r] = static_cast<int32_t>(real);
      for (int64_t t = 0; t < real; ++t) {
        v[r * len + t] = static_cast<int32_t>(torch::randint(4, 40, {1}).item<int64_t>());
      }
    }
  };
  std::vector<int32_t> ignored;
  fill(b.source, b.source_length, b.source_lengths);
  fill(b.target_output, b.target_length, b.target_lengths);
  fill(b.target_input, b.target_length, ignored);
  return trainer::ToDevice(b, torch::kCPU);
}

inline trainer::OptimizerOptions DefaultAdam() {
  proto::OptimConfig optim;
  ResolveDefaults(&optim);
  return trainer::OptimizerOptions::FromProto(optim);
}

// One update of `runner` read back at once, as the trainer reads every update on the CPU and in
// float16.
inline absl::StatusOr<trainer::StepStats> UpdateAndRead(
    trainer::StepRunner& runner, const std::vector<trainer::DeviceBatch>& micro_batches, double lr,
    trainer::StopVote vote = {}) {
  if (absl::Status updated = runner.Update(micro_batches, lr, vote); !updated.ok()) return updated;
  return runner.Read();
}

inline std::vector<torch::Tensor> Snapshot(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> copies;
  for (const auto& p : parameters) copies.push_back(p.detach().clone());
  return copies;
}

// The largest absolute difference between two parameter lists of the same shapes.
inline double MaxDifference(const std::vector<torch::Tensor>& a,
                            const std::vector<torch::Tensor>& b) {
  double max = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    max = std::max(max, (a[i].detach() - b[i].detach()).abs().max().item<double>());
  }
  return max;
}

}  // namespace fathom::testing

#endif  // FATHOM_TESTS_TINY_TRAINING_H_
