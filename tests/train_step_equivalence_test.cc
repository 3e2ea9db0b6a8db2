// The sync-free step against the step before it. On CUDA a training step leaves its results
// (loss, token counts, whether it was finite) on the device and the host reads them only every
// eval.log_every_steps updates (trainer/step_runner.h). Here that deferred-read path runs on the
// CPU (Trainer::set_read_every) for 200 updates of a tiny model, for the schemes and optimisers
// that matter, and follows tests/golden/steps_<run>_torch<N>.txt: the per-update losses and the
// final parameters of the same runs made by the code before the sync-free step, which read every
// update. A NaN injected mid-window stops the run at the next read without saving after it.
//
// After a deliberate change of what training computes, regenerate (in both builds: the files are
// per LibTorch major version) and commit the files with the change:
//
//   FATHOM_REGENERATE_GOLDEN=1 ctest --test-dir build -R '^train_step_equivalence_test$'
//   FATHOM_REGENERATE_GOLDEN=1 ctest --test-dir build-torch2 -R '^train_step_equivalence_test$'
//
// Regenerating trains with a read after every update, the path the files were first made with;
// tests/golden/README.md says how the first files were made and what the tolerances rest on.
#include <torch/cuda.h>
// CUDA's sync debug mode; the Debian LibTorch (CPU only) ships this header without the generated
// one it includes.
#if __has_include(<c10/cuda/impl/cuda_cmake_macros.h>)
#include <c10/cuda/CUDAFunctions.h>
#define FATHOM_SYNC_DEBUG_MODE 1
#endif
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "checkpoint/checkpoint_io.h"
#include "comm/single_process_communicator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "models/initialisation.h"
#include "proto/config.pb.h"
#include "proto/config_io.h"
#include "tests/test_util.h"
#include "tests/tiny_training.h"
#include "trainer/step_runner.h"
#include "trainer/trainer.h"

namespace fathom::trainer {
namespace {

using ::testing::HasSubstr;

constexpr int kSteps = 200;
constexpr int kReadEvery = 10;

// The tolerances of a run (tests/golden/README.md has the figures): the largest |window mean loss
// - reference mean| over the 20 windows of 10 updates, and the largest |checksum - reference| /
// (1 + |reference|) over every parameter's three checksums. On the CPU the deferred reads change
// no arithmetic of the step (the same float32 and float64 operations in the same order), so the
// measured difference is 0 in both builds; the tolerances leave room for another CPU's kernels,
// well below what the two LibTorch builds' own curves differ by after 200 updates (1.4e-5 for
// float32, 3.6e-4 for bf16 autocast). A GPU run is held to a bf16-level 1e-2 relative instead.
constexpr double kFloat32Tolerance = 1e-6;
constexpr double kBf16Tolerance = 1e-4;

// What each run adds to TinyRunConfig: every optimiser, clipping, gradient accumulation and bf16
// autocast, over the schemes whose residual paths differ (Post-LN, Admin's omegas, DT-Fixup's
// data-dependent scales and schedule).
struct RunSpec {
  const char* name;
  const char* config;
  double tolerance;
};
const RunSpec kRuns[] = {
    {"post_ln_adam", "init { method: POST_LN }", kFloat32Tolerance},
    // clip_norm 0.5 clips about half of these updates (their norms are 0.44 to 0.93).
    {"admin_adamw_clip",
     "init { method: ADMIN } optim { optimizer: ADAMW weight_decay: 0.01 clip_norm: 0.5 }",
     kFloat32Tolerance},
    {"dt_fixup_radam_freq2", "init { method: DT_FIXUP } optim { optimizer: RADAM update_freq: 2 }",
     kFloat32Tolerance},
    {"post_ln_bf16", "init { method: POST_LN } distributed { precision: BF16 }", kBf16Tolerance},
};

const testing::TempDir& DataDir() { return testing::TinyRunData(); }

proto::RunConfig MakeConfig(const char* extra, const std::string& run_dir) {
  proto::RunConfig config = fathom::testing::TinyRunConfig(/*max_steps=*/200), more;
  EXPECT_TRUE(ParseTextProto(extra, "run config", &more).ok()) << extra;
  config.MergeFrom(more);
  config.set_run_dir(run_dir);
  config.mutable_data()->set_prepared_dir(DataDir().File("prepared"));
  ResolveDefaults(&config);
  return config;
}

// Three checksums of one parameter, in float64: the sum, the sum of magnitudes, and a sum
// weighted by a fixed exactly-representable pattern (which notices moved elements).
struct Checksum {
  int64_t numel = 0;
  double sum = 0, abs_sum = 0, weighted = 0;
};

std::vector<Checksum> Checksums(const std::vector<torch::Tensor>& parameters) {
  std::vector<Checksum> sums;
  for (const torch::Tensor& p : parameters) {
    const torch::Tensor x = p.detach().to(torch::kDouble).reshape({-1});
    const torch::Tensor w =
        torch::arange(x.numel(), torch::kLong).mul(7919).remainder(101).to(torch::kDouble) / 101.0 -
        0.5;
    sums.push_back({x.numel(), x.sum().item<double>(), x.abs().sum().item<double>(),
                    (x * w).sum().item<double>()});
  }
  return sums;
}

struct Trained {
  std::vector<double> losses;  // one per read: per update, or per window of kReadEvery
  std::vector<Checksum> parameters;
};

// Trains one run through Trainer::Create and Run, as `fathom train` does, with one thread.
// `read_every` 0: the device's own reads (every update on the CPU).
absl::StatusOr<Trained> Train(const proto::RunConfig& config, int64_t read_every,
                              Trainer::BeforeStepHook hook = nullptr) {
  torch::set_num_threads(1);
  comm::SingleProcessCommunicator alone;
  ASSIGN_OR_RETURN(std::unique_ptr<Trainer> trainer,
                   Trainer::Create(config, &alone, /*resume=*/false));
  if (read_every > 0) RETURN_IF_ERROR(trainer->set_read_every(read_every));
  if (hook) trainer->set_before_step(std::move(hook));
  ASSIGN_OR_RETURN(TrainSummary summary, trainer->Run());
  return Trained{summary.losses, Checksums(trainer->model()->parameters())};
}

std::string ReferencePath(const std::string& run) {
  const char* dir = std::getenv("FATHOM_GOLDEN_DIR");
  return absl::StrCat(dir != nullptr ? dir : testing::SourceDir() + "/tests/golden", "/steps_", run,
                      "_torch", TORCH_VERSION_MAJOR, ".txt");
}

bool Regenerating() {
  const char* value = std::getenv("FATHOM_REGENERATE_GOLDEN");
  return value != nullptr && std::string(value) == "1";
}

void WriteReference(const std::string& path, const RunSpec& run, const Trained& trained) {
  std::string text = absl::StrCat(
      "# ", run.name, ": tests/train_step_equivalence_test.cc's run with ", run.config, "\n",
      "# read after every update, LibTorch ", TORCH_VERSION_MAJOR, ".", TORCH_VERSION_MINOR,
      ". \"loss STEP LOSS\": the loss of each update (per\n",
      "# target token, label-smoothed); \"param K NUMEL SUM ABS_SUM WEIGHTED\": checksums of\n",
      "# parameter K after the last update. Written by FATHOM_REGENERATE_GOLDEN=1\n",
      "# (tests/golden/README.md); do not edit.\n");
  for (size_t i = 0; i < trained.losses.size(); ++i) {
    absl::StrAppendFormat(&text, "loss %d %.17g\n", i + 1, trained.losses[i]);
  }
  for (size_t k = 0; k < trained.parameters.size(); ++k) {
    const Checksum& c = trained.parameters[k];
    absl::StrAppendFormat(&text, "param %d %d %.17g %.17g %.17g\n", k, c.numel, c.sum, c.abs_sum,
                          c.weighted);
  }
  testing::WriteTextFile(path, text);
}

absl::StatusOr<Trained> ReadReference(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  Trained reference;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string kind;
    int64_t index = 0;
    fields >> kind >> index;
    bool ok = !fields.fail();
    if (ok && kind == "loss") {
      double loss = 0;
      ok = static_cast<bool>(fields >> loss) &&
           index == static_cast<int64_t>(reference.losses.size()) + 1;
      reference.losses.push_back(loss);
    } else if (ok && kind == "param") {
      Checksum c;
      ok = static_cast<bool>(fields >> c.numel >> c.sum >> c.abs_sum >> c.weighted) &&
           index == static_cast<int64_t>(reference.parameters.size());
      reference.parameters.push_back(c);
    } else {
      ok = false;
    }
    if (!ok) return absl::DataLossError(absl::StrCat(path, ":", number, ": malformed line"));
  }
  return reference;
}

class StepEquivalenceTest : public ::testing::TestWithParam<RunSpec> {};

TEST_P(StepEquivalenceTest, ReadsEveryTenUpdatesFollowThePerUpdateReference) {
  const RunSpec& run = GetParam();
  testing::TempDir temp;
  const proto::RunConfig config = MakeConfig(run.config, temp.File("run"));
  const std::string path = ReferencePath(run.name);
  if (Regenerating()) {
    absl::StatusOr<Trained> trained = Train(config, /*read_every=*/0);
    ASSERT_TRUE(trained.ok()) << trained.status();
    ASSERT_EQ(trained->losses.size(), static_cast<size_t>(kSteps));
    WriteReference(path, run, *trained);
    std::printf("%s: wrote %s\n", run.name, path.c_str());
    return;
  }
  absl::StatusOr<Trained> reference = ReadReference(path);
  ASSERT_TRUE(reference.ok()) << reference.status();
  ASSERT_EQ(reference->losses.size(), static_cast<size_t>(kSteps)) << path;
  absl::StatusOr<Trained> trained = Train(config, kReadEvery);
  ASSERT_TRUE(trained.ok()) << trained.status();
  // One loss per read: the mean of the window's per-update losses.
  ASSERT_EQ(trained->losses.size(), static_cast<size_t>(kSteps / kReadEvery));
  double worst_loss = 0;
  for (int w = 0; w < kSteps / kReadEvery; ++w) {
    double mean = 0;
    for (int i = w * kReadEvery; i < (w + 1) * kReadEvery; ++i) mean += reference->losses[i];
    mean /= kReadEvery;
    const double difference = std::abs(trained->losses[w] - mean);
    worst_loss = std::max(worst_loss, std::isnan(difference) ? HUGE_VAL : difference);
    EXPECT_NEAR(trained->losses[w], mean, run.tolerance)
        << run.name << ": updates " << w * kReadEvery + 1 << " to " << (w + 1) * kReadEvery;
  }
  ASSERT_EQ(trained->parameters.size(), reference->parameters.size());
  double worst_param = 0;
  for (size_t k = 0; k < trained->parameters.size(); ++k) {
    const Checksum &got = trained->parameters[k], &want = reference->parameters[k];
    ASSERT_EQ(got.numel, want.numel) << "parameter " << k;
    for (const auto& [a, b] : {std::pair(got.sum, want.sum), std::pair(got.abs_sum, want.abs_sum),
                               std::pair(got.weighted, want.weighted)}) {
      const double relative = std::abs(a - b) / (1 + std::abs(b));
      worst_param = std::max(worst_param, std::isnan(relative) ? HUGE_VAL : relative);
      EXPECT_LE(relative, run.tolerance)
          << run.name << ": parameter " << k << ": " << a << " against " << b;
    }
  }
  // Printed on success too: the margins the tolerances were set from.
  std::printf("%s: max |window loss - reference| = %.3g, max parameter checksum difference %.3g\n",
              run.name, worst_loss, worst_param);
}

INSTANTIATE_TEST_SUITE_P(Runs, StepEquivalenceTest, ::testing::ValuesIn(kRuns),
                         [](const ::testing::TestParamInfo<RunSpec>& info) {
                           return std::string(info.param.name);
                         });

// A NaN weight before update 33, read back every 10 updates and saved every 20: the update is
// skipped on the device, the read after update 40 finds it, and the run stops there with the
// window named, having saved nothing after step 20.
TEST(StepEquivalenceNanTest, ANanStopsTheRunAtTheNextReadWithoutSaving) {
  testing::TempDir temp;
  const std::string run_dir = temp.File("run");
  proto::RunConfig config = MakeConfig("init { method: POST_LN }", run_dir);
  config.mutable_checkpoint()->set_save_every_steps(20);
  const absl::StatusOr<Trained> trained =
      Train(config, kReadEvery, [](int64_t step, models::Seq2SeqImpl& model) {
        if (step != 33) return;
        torch::NoGradGuard no_grad;
        model.parameters().front().view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
      });
  ASSERT_FALSE(trained.ok());
  const std::string message(trained.status().message());
  EXPECT_THAT(message, HasSubstr("NaN or infinite in 8 of the updates 31 to 40"));
  EXPECT_THAT(message, HasSubstr("the last checkpoint (step 20) is intact"));
  EXPECT_EQ(checkpoint::ListCheckpointSteps(run_dir), std::vector<int64_t>({20}));
  absl::StatusOr<checkpoint::LoadedCheckpoint> latest =
      checkpoint::ReadLatestValid(run_dir, nullptr);
  ASSERT_TRUE(latest.ok()) << latest.status();
  for (const auto& [name, tensor] : latest->tensors) {
    if (tensor.is_floating_point()) EXPECT_TRUE(torch::isfinite(tensor).all().item<bool>()) << name;
  }
}

// The StepRunner alone: a window of updates read at once reads what reading after every update
// reads, bit for bit on the CPU, and the parameters are the same.
TEST(StepRunnerWindowTest, AWindowReadsTheSumsOfReadingEveryUpdate) {
  models::Seq2Seq windowed(testing::TinyModelOptions()), each(testing::TinyModelOptions());
  models::InitialiseDefault(*windowed, 7);
  models::InitialiseDefault(*each, 7);
  Optimizer windowed_opt(windowed->parameters(), testing::DefaultAdam());
  Optimizer each_opt(each->parameters(), testing::DefaultAdam());
  comm::SingleProcessCommunicator alone;
  StepOptions options;
  options.clip_norm = 0.5;  // clips some of these updates: the device-side factor is exercised
  StepRunner each_runner(each, &each_opt, &alone, options);
  options.read_every = 5;
  StepRunner windowed_runner(windowed, &windowed_opt, &alone, options);
  for (int window = 0; window < 2; ++window) {
    double loss_sum = 0, nll_sum = 0, flops = 0, grad_norm = 0;
    int64_t target_tokens = 0, source_tokens = 0;
    for (int u = 0; u < 5; ++u) {
      const int step = 5 * window + u;
      const std::vector<DeviceBatch> batches = {testing::TinyBatch(0, step),
                                                testing::TinyBatch(1, step)};
      EXPECT_FALSE(windowed_runner.ReadDue());
      ASSERT_TRUE(windowed_runner.Update(batches, 1e-3).ok());
      absl::StatusOr<StepStats> one = testing::UpdateAndRead(each_runner, batches, 1e-3);
      ASSERT_TRUE(one.ok()) << one.status();
      ASSERT_EQ(one->updates, 1);
      loss_sum += one->loss;
      nll_sum += one->nll;
      flops += one->flops;
      target_tokens += one->target_tokens;
      source_tokens += one->source_tokens;
      grad_norm = one->grad_norm;
    }
    EXPECT_TRUE(windowed_runner.ReadDue());
    absl::StatusOr<StepStats> read = windowed_runner.Read();
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->updates, 5);
    EXPECT_TRUE(read->finite);
    EXPECT_FALSE(read->skipped);
    EXPECT_EQ(read->update_loss_sum, loss_sum);
    EXPECT_EQ(read->update_nll_sum, nll_sum);
    EXPECT_EQ(read->flops, flops);
    EXPECT_EQ(read->target_tokens, target_tokens);
    EXPECT_EQ(read->source_tokens, source_tokens);
    EXPECT_EQ(read->grad_norm, grad_norm);
    EXPECT_EQ(windowed_runner.pending(), 0);
  }
  EXPECT_EQ(windowed_opt.steps(), 10);
  EXPECT_EQ(testing::MaxDifference(windowed->parameters(), each->parameters()), 0.0);
}

// A NaN weight mid-window: the updates from there on are skipped (on the CPU the host sees
// found_inf; on CUDA the fused kernel skips them on the device) and the read counts them.
TEST(StepRunnerWindowTest, ANonFiniteUpdateIsSkippedAndCountedAtTheRead) {
  models::Seq2Seq model(testing::TinyModelOptions());
  models::InitialiseDefault(*model, 8);
  Optimizer optimizer(model->parameters(), testing::DefaultAdam());
  comm::SingleProcessCommunicator alone;
  StepOptions options;
  options.read_every = 6;
  StepRunner runner(model, &optimizer, &alone, options);
  std::vector<torch::Tensor> before;
  for (int step = 0; step < 6; ++step) {
    if (step == 2) {
      before = testing::Snapshot(model->parameters());
      torch::NoGradGuard no_grad;
      model->parameters()[0].view(-1)[0].fill_(std::nan(""));
    }
    ASSERT_TRUE(runner.Update({testing::TinyBatch(0, step)}, 1e-3).ok());
  }
  absl::StatusOr<StepStats> read = runner.Read();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_FALSE(read->finite);
  EXPECT_TRUE(read->skipped);
  EXPECT_EQ(read->nonfinite_updates, 4);
  EXPECT_EQ(optimizer.steps(), 2);
  // Nothing moved after the NaN but the NaN itself.
  const std::vector<torch::Tensor> after = testing::Snapshot(model->parameters());
  after[0].view(-1)[0].fill_(before[0].view(-1)[0]);
  EXPECT_EQ(testing::MaxDifference(after, before), 0.0);
}

std::vector<DeviceBatch> OnDevice(std::vector<DeviceBatch> batches, const torch::Device& device) {
  for (DeviceBatch& b : batches) {
    b.source = b.source.to(device);
    b.target_input = b.target_input.to(device);
    b.target_output = b.target_output.to(device);
  }
  return batches;
}

// With `on`, anything that waits for the device (item(), nonzero(), a blocking copy) throws.
void SetSyncDebugError(bool on) {
#ifdef FATHOM_SYNC_DEBUG_MODE
  c10::cuda::warning_state().set_sync_debug_mode(on ? c10::cuda::SyncDebugMode::L_ERROR
                                                    : c10::cuda::SyncDebugMode::L_DISABLED);
#else
  ADD_FAILURE() << "this LibTorch has no CUDA sync debug mode: the check cannot run";
#endif
}

struct CudaRun {
  std::vector<double> window_losses;
  std::vector<torch::Tensor> parameters;  // on the CPU
};

// 20 updates of the tiny model on `device` (clipping, two micro-batches), read every
// `read_every`; with `no_host_waits` every update runs under CUDA's sync debug mode set to
// error, so anything in it that waits for the device (item(), nonzero(), a blocking copy)
// throws.
CudaRun TrainTiny(const torch::Device& device, int64_t read_every, bool fused, bool no_host_waits) {
  models::Seq2Seq model(testing::TinyModelOptions());
  models::InitialiseDefault(*model, 9);
  model->to(device);
  Optimizer optimizer(model->parameters(), testing::DefaultAdam());
  comm::SingleProcessCommunicator alone;
  StepOptions options;
  options.clip_norm = 0.5;
  options.read_every = read_every;
  options.fused_kernels = fused;
  StepRunner runner(model, &optimizer, &alone, options);
  CudaRun run;
  for (int step = 0; step < 20; ++step) {
    const std::vector<DeviceBatch> batches =
        OnDevice({testing::TinyBatch(0, step), testing::TinyBatch(1, step)}, device);
    if (no_host_waits) SetSyncDebugError(true);
    absl::Status updated;
    try {
      updated = runner.Update(batches, 1e-3);
    } catch (const c10::Error& e) {
      updated = absl::InternalError(e.what());
    }
    if (no_host_waits) SetSyncDebugError(false);
    EXPECT_TRUE(updated.ok()) << "update " << step + 1 << ": " << updated;
    if (!updated.ok()) break;
    if (!runner.ReadDue()) continue;
    absl::StatusOr<StepStats> read = runner.Read();
    EXPECT_TRUE(read.ok() && read->finite) << read.status();
    if (read.ok()) run.window_losses.push_back(read->update_loss_sum / read->updates);
  }
  for (const auto& p : model->parameters()) run.parameters.push_back(p.detach().cpu());
  return run;
}

// On a GPU: the update waits for nothing (fused kernels, deferred reads), and its windows and
// parameters follow the CPU's step, read every update, to float32 tolerance; the unfused
// comparison path on CUDA agrees with the fused one.
TEST(StepRunnerCudaTest, TheFusedDeferredStepNeverWaitsAndFollowsTheCpuStep) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const torch::Device gpu(torch::kCUDA, 0);
  const CudaRun fused = TrainTiny(gpu, /*read_every=*/10, /*fused=*/true, /*no_host_waits=*/true);
  const CudaRun unfused = TrainTiny(gpu, 10, /*fused=*/false, /*no_host_waits=*/false);
  const CudaRun cpu = TrainTiny(torch::kCPU, 10, /*fused=*/true, /*no_host_waits=*/false);
  ASSERT_EQ(fused.window_losses.size(), 2u);
  ASSERT_EQ(cpu.window_losses.size(), 2u);
  ASSERT_EQ(unfused.window_losses.size(), 2u);
  for (size_t w = 0; w < 2; ++w) {
    EXPECT_NEAR(fused.window_losses[w], cpu.window_losses[w], 1e-4 * cpu.window_losses[w]);
    EXPECT_NEAR(fused.window_losses[w], unfused.window_losses[w], 1e-5 * cpu.window_losses[w]);
  }
  std::printf("CUDA fused against CPU: max parameter difference %.3g; against unfused %.3g\n",
              testing::MaxDifference(fused.parameters, cpu.parameters),
              testing::MaxDifference(fused.parameters, unfused.parameters));
  EXPECT_LT(testing::MaxDifference(fused.parameters, cpu.parameters), 1e-4);
  EXPECT_LT(testing::MaxDifference(fused.parameters, unfused.parameters), 1e-5);
}

}  // namespace
}  // namespace fathom::trainer
