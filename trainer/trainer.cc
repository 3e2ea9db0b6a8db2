#include "trainer/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "comm/communicator_factory.h"
#include "data/prepare.h"
#include "models/initial_loss.h"
#include "models/initialisation.h"
#include "models/model_options.h"
#include "proto/config_io.h"
#include "trainer/checkpoint/checkpoint_io.h"
#include "trainer/generator_state.h"
#include "trainer/lr_schedule.h"

namespace fathom::trainer {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

data::BatchingOptions BatchingFrom(const proto::RunConfig& config, bool shuffle) {
  data::BatchingOptions options;
  options.max_tokens = config.data().batch().max_tokens();
  options.bucket_width = config.data().batch().bucket_width();
  options.size_multiple = config.data().batch().size_multiple();
  options.shuffle = shuffle && config.data().batch().shuffle();
  options.seed = config.seed();
  return options;
}

// An all-reduce SUM of Admin's per-sublayer statistics: every rank profiles its own batches
// and all set the omegas of the union.
models::StatsReducer SumAcross(comm::Communicator* comm) {
  return [comm](torch::Tensor& stats) {
    const absl::Status status = comm->AllReduce(stats, comm::ReduceOp::kSum);
    if (!status.ok()) throw std::runtime_error(std::string(status.message()));
  };
}

// TensorBoard files are for people watching; a failure to write them (a full disk) is worth a
// warning, never the run, and it is rank 0's alone, so failing would leave the others waiting.
void WarnIfFailed(const absl::Status& status, bool* warned) {
  if (status.ok() || *warned) return;
  *warned = true;
  FLOG(Warning) << "TensorBoard events: " << status.message() << " (training goes on; further errors not shown)";
}

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(seconds);
  return absl::StrFormat("%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const proto::RunConfig& config,
                                                         comm::Communicator* comm, bool resume,
                                                         torch::Device device) {
  std::unique_ptr<Trainer> trainer(new Trainer(config, comm, device));
  RETURN_IF_ERROR(trainer->Setup(resume));
  return trainer;
}

absl::Status Trainer::Setup(bool resume) {
  stop_signal_ = std::make_unique<StopSignal>();
  SetCollectiveTimeout(/*long_phase=*/true);  // set-up reads data and checkpoints unevenly
  const std::string& prepared = config_.data().prepared_dir();
  ASSIGN_OR_RETURN(train_, data::ShardDataset::Open(prepared, "train"));
  if (train_->header().has_relations()) {
    ASSIGN_OR_RETURN(train_relations_, data::RelationStore::Open(prepared, *train_));
  }
  if (PathExists(absl::StrCat(prepared, "/valid.header"))) {
    ASSIGN_OR_RETURN(valid_, data::ShardDataset::Open(prepared, "valid"));
    if (valid_->header().has_relations()) {
      ASSIGN_OR_RETURN(valid_relations_, data::RelationStore::Open(prepared, *valid_));
    }
    // The validation batches never change (no shuffle): plan them once.
    ASSIGN_OR_RETURN(data::Batcher valid_batcher,
                     data::Batcher::Create(valid_->SourceLengths(), valid_->TargetLengths(),
                                           BatchingFrom(config_, false), comm_->rank(), comm_->size()));
    valid_plan_ = valid_batcher.EpochBatches(0);
    if (config_.eval().best_metric() == proto::EvalConfig::BLEU) {
      ASSIGN_OR_RETURN(valid_bleu_, eval::ValidationBleu::Create(prepared, *valid_, valid_relations_.get(),
                                                                 config_.data().sentencepiece(),
                                                                 eval::DecodeOptionsFrom(config_)));
      valid_examples_ = eval::ExamplesOf(valid_plan_);
    }
  } else if (config_.eval().best_metric() == proto::EvalConfig::BLEU) {
    return absl::InvalidArgumentError(absl::StrCat("eval.best_metric: BLEU needs a validation split, and ", prepared,
                                                   " has none (add a data.split named \"valid\")"));
  }
  const auto& header = train_->header();
  special_ = {header.target_vocab().pad_id(), header.target_vocab().bos_id(), header.target_vocab().eos_id()};

  // Threads: all cores shared by the ranks of this host, unless the config says otherwise.
  const int threads = comm::ThreadsPerRank(*comm_, config_.distributed().threads());
  torch::set_num_threads(threads);

  const int64_t relations = header.has_relations() ? header.relations().num_relations() : 0;
  ASSIGN_OR_RETURN(models::ModelOptions options,
                   models::MakeModelOptions(config_.model(), config_.init(), header.source_vocab().size(),
                                            header.target_vocab().size(), special_.pad, relations, 0));
  model_ = models::Seq2Seq(options);
  model_->to(device_);

  ASSIGN_OR_RETURN(auto batcher, data::Batcher::Create(train_->SourceLengths(), train_->TargetLengths(),
                                                       BatchingFrom(config_, true), comm_->rank(),
                                                       comm_->size()));
  batcher_ = std::make_unique<data::Batcher>(std::move(batcher));

  if (config_.distributed().precision() == proto::DistributedConfig::FP16) {
    if (!device_.is_cuda()) {
      return absl::UnimplementedError(
          "distributed.precision: FP16 needs CUDA (LibTorch has no float16 matrix multiply on CPU); use BF16");
    }
    ASSIGN_OR_RETURN(LossScalerOptions scaler_options, LossScalerOptionsFromConfig(config_.distributed()));
    loss_scaler_ = std::make_unique<LossScaler>(scaler_options);
  }

  bool resumed = false;
  if (resume) RETURN_IF_ERROR(Resume(&resumed));
  if (!resumed) RETURN_IF_ERROR(Initialise());

  StepOptions step_options;
  step_options.label_smoothing = config_.optim().label_smoothing();
  step_options.clip_norm = config_.optim().clip_norm();
  step_options.bf16_autocast = config_.distributed().precision() == proto::DistributedConfig::BF16;
  step_options.fp16_autocast = config_.distributed().precision() == proto::DistributedConfig::FP16;
  step_options.bucket_bytes = static_cast<int64_t>(config_.distributed().bucket_mb() * (1 << 20));
  if (optimizer_ == nullptr) optimizer_ = std::make_unique<Optimizer>(model_->parameters(), config_.optim());
  runner_ = std::make_unique<StepRunner>(model_, optimizer_.get(), comm_, step_options, loss_scaler_.get());

  if (comm_->rank() == 0) {
    RETURN_IF_ERROR(MakeDirs(config_.run_dir()));
    RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(config_.run_dir(), "/config.pbtxt"), ConfigToText(config_)));
    // The SentencePiece model(s) travel with the run: `fathom translate` needs nothing else.
    for (const std::string& spm : {header.source_vocab().model_file(), header.target_vocab().model_file()}) {
      ASSIGN_OR_RETURN(std::string spm_bytes, ReadFileToString(absl::StrCat(prepared, "/", spm)));
      RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(config_.run_dir(), "/", spm), spm_bytes));
    }
    ASSIGN_OR_RETURN(events_, EventWriter::Create(absl::StrCat(config_.run_dir(), "/tb")));
  }
  int64_t parameters = 0;
  for (const auto& p : model_->parameters()) parameters += p.numel();
  FLOG(Info) << comm_->Describe() << "; " << threads << " threads per rank; model "
             << options.encoder_layers << "L-" << options.decoder_layers << "L d " << options.d_model << ", "
             << parameters << " parameters; " << train_->size() << " training examples, "
             << batcher_->batches_per_epoch() << " batches per epoch per rank";
  return absl::OkStatus();
}

std::vector<int64_t> Trainer::BestSteps() const {
  std::vector<int64_t> steps;
  for (const auto& [step, metric] : best_) steps.push_back(step);
  return steps;
}

void Trainer::SetCollectiveTimeout(bool long_phase) {
  const int seconds = config_.distributed().timeout_seconds();
  if (seconds <= 0) {
    comm_->SetTimeout(absl::InfiniteDuration());
    return;
  }
  // While rank 0 writes a checkpoint or ranks decode validation sets of uneven difficulty, the
  // others wait legitimately: those phases get four times the limit of a training step.
  comm_->SetTimeout(absl::Seconds(long_phase ? 4 * static_cast<int64_t>(seconds) : seconds));
}

DeviceBatch Trainer::NextBatch() {
  data::BatchPlan plan;
  batcher_->Next(&plan);
  return ToDevice(data::MakeBatch(*train_, plan, special_, train_relations_.get()), device_);
}

absl::Status Trainer::Initialise() {
  models::InitialiseDefault(*model_, config_.seed());
  // Every rank starts from rank 0's parameters.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model_->parameters()) {
      torch::Tensor t = p.detach();
      RETURN_IF_ERROR(comm_->Broadcast(t, 0));
    }
  }
  // From here on each rank draws its own dropout masks.
  SeedRankGenerators(config_.seed(), comm_->rank(), 0);
  switch (config_.init().method()) {
    case proto::InitConfig::ADMIN: {
      // Profile on the union of this rank's first batches, stacked into one so that every
      // sublayer's variance is taken over all of them (omega_k is needed before sublayer k+1
      // runs); the statistics are summed over ranks.
      const data::BatcherPosition start = batcher_->position();
      std::vector<DeviceBatch> batches;
      for (int b = 0; b < config_.init().admin_profile_batches(); ++b) batches.push_back(NextBatch());
      try {
        const DeviceBatch profile = Concatenate(batches, model_->options().pad_id);
        const models::AdminOmegas omegas =
            models::ProfileAdmin(*model_, profile.source, profile.target_input, profile.relations, SumAcross(comm_));
        FLOG(Info) << "Admin omegas over " << batches.size() << " batch(es) on " << comm_->size()
                   << " rank(s): encoder " << omegas.encoder.front() << " -> " << omegas.encoder.back()
                   << ", decoder " << omegas.decoder.front() << " -> " << omegas.decoder.back();
      } catch (const std::exception& e) {
        return absl::InternalError(absl::StrCat("Admin profiling failed: ", e.what()));
      }
      RETURN_IF_ERROR(batcher_->Restore(start));
      break;
    }
    case proto::InitConfig::ADMIN_CONSTANT:
      models::ApplyAdminConstant(*model_);
      break;
    case proto::InitConfig::T_FIXUP:
      models::ApplyTFixup(*model_);
      break;
    case proto::InitConfig::DT_FIXUP:
      RETURN_IF_ERROR(RunDtFixupPass());
      models::ApplyDtFixup(*model_, mu_[0], mu_[1]);
      break;
    default:
      break;
  }
  // A tied output can start far above log V; say so before hours of training.
  const data::BatcherPosition start = batcher_->position();
  const DeviceBatch probe = NextBatch();
  RETURN_IF_ERROR(batcher_->Restore(start));
  const models::InitialLoss initial =
      models::EstimateInitialLoss(*model_, probe.source, probe.target_input, probe.target_output, probe.relations);
  if (initial.far_above()) {
    FLOG(Warning) << "initial loss " << initial.loss << " is far above log V = " << initial.log_vocab
                  << " (tied output embedding); consider model.tied_output_remedy";
  } else {
    FLOG(Info) << "initial loss " << initial.loss << " (log V = " << initial.log_vocab << ")";
  }
  return absl::OkStatus();
}

absl::Status Trainer::RunDtFixupPass() {
  // mu: the largest input norm over ALL training examples: each rank over its shard (its
  // batches of one epoch), then the maximum across ranks.
  const auto start_time = Clock::now();
  model_->eval();
  torch::NoGradGuard no_grad;
  double mu_enc = 0, mu_dec = 0;
  int64_t examples = 0;
  for (const data::BatchPlan& plan : batcher_->EpochBatches(0)) {
    const DeviceBatch batch = ToDevice(data::MakeBatch(*train_, plan, special_), device_);
    mu_enc = std::max(mu_enc, models::MaxPositionNorm(model_->EncoderInput(batch.source), batch.source.eq(special_.pad)));
    mu_dec = std::max(mu_dec, models::MaxPositionNorm(model_->DecoderInput(batch.target_input),
                                                      batch.target_input.eq(special_.pad)));
    examples += static_cast<int64_t>(plan.examples.size());
  }
  torch::Tensor mu = torch::tensor({mu_enc, mu_dec}, torch::kDouble);
  RETURN_IF_ERROR(comm_->AllReduce(mu, comm::ReduceOp::kMax));
  torch::Tensor count = torch::tensor({examples}, torch::kLong);
  RETURN_IF_ERROR(comm_->AllReduce(count, comm::ReduceOp::kSum));
  mu_ = {mu[0].item<double>(), mu[1].item<double>()};
  FLOG(Info) << "mu = " << mu_[0] << " over " << count.item<int64_t>() << " examples on " << comm_->size()
             << " ranks (decoder input: " << mu_[1] << ", " << SecondsSince(start_time) << " s)";
  model_->train();
  return absl::OkStatus();
}

absl::StatusOr<double> Trainer::Validate() {
  if (valid_ == nullptr) return 0.0;
  model_->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor sums = torch::zeros({2}, torch::kDouble);
  for (const data::BatchPlan& plan : valid_plan_) {
    const DeviceBatch batch =
        ToDevice(data::MakeBatch(*valid_, plan, special_, valid_relations_.get()), device_);
    torch::Tensor logits = model_->forward(batch.source, batch.target_input, batch.relations);
    torch::Tensor nll = torch::nn::functional::cross_entropy(
        logits.to(torch::kFloat).reshape({-1, logits.size(-1)}), batch.target_output.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(special_.pad).reduction(torch::kSum));
    sums[0] += nll.to(torch::kDouble).cpu();
    sums[1] += static_cast<double>(batch.target_tokens);
  }
  RETURN_IF_ERROR(comm_->AllReduce(sums, comm::ReduceOp::kSum));
  model_->train();
  return sums[0].item<double>() / std::max(1.0, sums[1].item<double>());
}

absl::StatusOr<double> Trainer::ValidationBleu() {
  ASSIGN_OR_RETURN(eval::ValidationBleuStats mine, valid_bleu_->Decode(*model_, valid_examples_));
  torch::Tensor stats = eval::ToTensor(mine);
  RETURN_IF_ERROR(comm_->AllReduce(stats, comm::ReduceOp::kSum));
  ASSIGN_OR_RETURN(eval::ValidationBleuStats all, eval::ValidationBleuStatsFromTensor(stats));
  return valid_bleu_->Score(all).score;
}

absl::Status Trainer::SaveCheckpoint() {
  checkpoint::NamedTensors tensors = checkpoint::ModuleTensors(*model_, "model.");
  for (const auto& [name, tensor] : optimizer_->State()) tensors.emplace_back("optimizer." + name, tensor);
  proto::TrainingState state;
  state.set_step(step_);
  state.set_epoch(batcher_->position().epoch);
  state.mutable_iterator()->set_epoch(batcher_->position().epoch);
  state.mutable_iterator()->set_index(batcher_->position().index);
  state.mutable_iterator()->set_batches_per_epoch(batcher_->batches_per_epoch());
  state.set_world_size(comm_->size());
  state.set_wall_clock_seconds(seconds_before_ + SecondsSince(run_start_));
  state.set_config_text(ConfigToText(config_));
  for (double mu : mu_) state.add_dt_fixup_mu(mu);
  for (const auto& [step, metric] : best_) {
    proto::BestCheckpoint* best = state.add_best();
    best->set_step(step);
    best->set_metric(metric);
  }
  if (best_metric_.has_value()) state.set_best_metric(*best_metric_);
  state.set_validations_without_improvement(validations_without_improvement_);
  if (loss_scaler_ != nullptr) {
    state.set_loss_scale(loss_scaler_->scale());
    state.set_loss_scale_growth_tracker(loss_scaler_->growth_tracker());
  }
  // Each rank's generators, so a resumed run draws the same dropout masks.
  ASSIGN_OR_RETURN(const GeneratorBytes generators, SaveGenerators(device_));
  ASSIGN_OR_RETURN(std::vector<std::string> cpu_states, comm_->AllGatherBytes(generators.cpu));
  for (const auto& s : cpu_states) state.add_rng_state(s);
  if (device_.is_cuda()) {
    ASSIGN_OR_RETURN(std::vector<std::string> device_states, comm_->AllGatherBytes(generators.device));
    for (const auto& s : device_states) state.add_cuda_rng_state(s);
  }
  // Rank 0 writes; every rank learns whether it worked, so none waits for a save that failed.
  absl::Status written = absl::OkStatus();
  if (comm_->rank() == 0) {
    try {
      written = checkpoint::WriteCheckpoint(config_.run_dir(), step_, tensors, state);
    } catch (const std::exception& e) {  // copying tensors to the host can throw (CUDA, memory)
      written = absl::InternalError(absl::StrCat("writing under ", config_.run_dir(), "/checkpoints: ", e.what()));
    }
    if (written.ok()) {
      // An old checkpoint that cannot be deleted costs disk, not correctness.
      const absl::Status pruned = checkpoint::PruneCheckpoints(config_.run_dir(), config_.checkpoint().keep_last(),
                                                               BestSteps());
      if (!pruned.ok()) FLOG(Warning) << "pruning old checkpoints: " << pruned.message();
    }
  }
  torch::Tensor failed = torch::tensor({written.ok() ? 0L : 1L});
  RETURN_IF_ERROR(comm_->AllReduce(failed, comm::ReduceOp::kMax));
  if (!written.ok()) {
    return absl::Status(written.code(), absl::StrCat("saving the checkpoint of step ", step_, " failed (",
                                                     "the previous checkpoints are intact): ", written.message()));
  }
  if (failed.item<int64_t>() != 0) {
    return absl::InternalError(absl::StrCat("rank 0 could not save the checkpoint of step ", step_,
                                            " (its log says why); the previous checkpoints are intact"));
  }
  last_saved_step_ = step_;
  FLOG(Info) << "saved checkpoint at step " << step_;
  return absl::OkStatus();
}

absl::Status Trainer::Resume(bool* resumed) {
  // Rank 0 picks the checkpoint and every rank reads that one: ranks that each looked for
  // themselves could disagree (node-local disks, a file system cache) and one would start fresh
  // while the others resume, after which their collectives no longer match.
  std::string choice;  // rank 0: "" for none, "/dir" for a checkpoint, "!message" for an error
  absl::StatusOr<checkpoint::LoadedCheckpoint> loaded = absl::NotFoundError("not read");
  if (comm_->rank() == 0) {
    std::vector<std::string> skipped;
    loaded = checkpoint::ReadLatestValid(config_.run_dir(), &skipped);
    for (const auto& why : skipped) FLOG(Warning) << "skipped checkpoint: " << why;
    if (loaded.ok()) {
      choice = loaded->dir;
    } else if (!absl::IsNotFound(loaded.status())) {
      choice = absl::StrCat("!", loaded.status().message());
    }
  }
  ASSIGN_OR_RETURN(std::vector<std::string> choices, comm_->AllGatherBytes(choice));
  choice = choices[0];
  if (choice.empty()) {
    FLOG(Info) << "no checkpoint in " << config_.run_dir() << "; starting fresh";
    return absl::OkStatus();
  }
  if (choice[0] == '!') return absl::DataLossError(absl::StrCat("resuming (rank 0 chose): ", choice.substr(1)));
  if (comm_->rank() != 0) loaded = checkpoint::ReadCheckpoint(choice);
  // Every rank must have read it before any goes on.
  torch::Tensor failed = torch::tensor({loaded.ok() ? 0L : 1L});
  RETURN_IF_ERROR(comm_->AllReduce(failed, comm::ReduceOp::kMax));
  if (!loaded.ok()) return loaded.status();
  if (failed.item<int64_t>() != 0) {
    return absl::DataLossError(absl::StrCat("another rank could not read ", choice, " (its log says why)"));
  }
  checkpoint::NamedTensors model_tensors, optimizer_tensors;
  for (auto& [name, tensor] : loaded->tensors) {
    if (name.rfind("model.", 0) == 0) model_tensors.emplace_back(name, tensor);
    if (name.rfind("optimizer.", 0) == 0) optimizer_tensors.emplace_back(name.substr(10), tensor);
  }
  RETURN_IF_ERROR(checkpoint::LoadIntoModule(*model_, model_tensors, "model."));
  optimizer_ = std::make_unique<Optimizer>(model_->parameters(), config_.optim());
  try {
    optimizer_->LoadState(optimizer_tensors);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(loaded->dir, ": optimizer state: ", e.what()));
  }
  const proto::TrainingState& state = loaded->meta.state();
  step_ = state.step();
  seconds_before_ = state.wall_clock_seconds();
  mu_.assign(state.dt_fixup_mu().begin(), state.dt_fixup_mu().end());
  best_.clear();
  for (const proto::BestCheckpoint& best : state.best()) best_.emplace_back(best.step(), best.metric());
  validations_without_improvement_ = state.validations_without_improvement();
  best_metric_.reset();
  if (state.has_best_metric()) best_metric_ = state.best_metric();
  if (loss_scaler_ != nullptr && state.has_loss_scale()) {
    RETURN_IF_ERROR(loss_scaler_->Restore({state.loss_scale(), state.loss_scale_growth_tracker()}));
  }
  last_saved_step_ = step_;
  // On another rank count (or batch budget) the epoch is dealt anew, as its batches depend on
  // both: resume at the same fraction of it, so no part of the epoch is skipped or seen twice
  // beyond the rounding of one step.
  const int64_t per_epoch = batcher_->batches_per_epoch();
  const bool same_world = state.world_size() == comm_->size();
  // Checkpoints from before the count was recorded: the same epoch split over the saved ranks.
  const int64_t saved_per_epoch = std::max<int64_t>(
      1, state.iterator().has_batches_per_epoch() ? state.iterator().batches_per_epoch()
                                                   : per_epoch * comm_->size() / std::max(1, state.world_size()));
  const bool dealt_anew = !same_world || saved_per_epoch != per_epoch;
  int64_t index = state.iterator().index();
  if (dealt_anew) index = std::llround(static_cast<double>(index) * per_epoch / saved_per_epoch);
  index = std::min(index, per_epoch);
  RETURN_IF_ERROR(batcher_->Restore({state.iterator().epoch(), index}));
  // Seeded apart first, so that a generator the checkpoint does not restore (the CUDA one of a
  // checkpoint saved on CPU) still differs between ranks.
  SeedRankGenerators(config_.seed(), comm_->rank(), step_);
  if (same_world && state.rng_state_size() == comm_->size()) {
    GeneratorBytes generators;
    generators.cpu = state.rng_state(comm_->rank());
    if (state.cuda_rng_state_size() == comm_->size()) generators.device = state.cuda_rng_state(comm_->rank());
    if (device_.is_cuda() && generators.device.empty()) {
      FLOG(Warning) << loaded->dir << " holds no CUDA generator state (saved on CPU): " << device_.str()
                    << "'s dropout masks will differ from an uninterrupted run's";
    }
    RETURN_IF_ERROR(RestoreGenerators(device_, generators, loaded->dir));
  }
  if (dealt_anew) {
    FLOG(Info) << "resuming " << state.world_size() << " rank(s) as " << comm_->size() << ": batch "
               << state.iterator().index() << " of " << saved_per_epoch << " in the saved epoch is batch " << index
               << " of " << per_epoch << " now"
               << (same_world ? "" : "; generators seeded anew (the saved ones are other ranks')");
  }
  FLOG(Info) << "resumed from " << loaded->dir << " at step " << step_ << " (epoch " << state.iterator().epoch()
             << ", batch " << index << ")";
  *resumed = true;
  return absl::OkStatus();
}

absl::StatusOr<bool> Trainer::StopAfterThisStep(const StepStats& stats, TrainSummary* summary) {
  if (stats.ranks_signalled > 0) {
    // Rare: learn which ranks were signalled, for the log.
    ASSIGN_OR_RETURN(std::vector<int64_t> signals,
                     comm_->AllGather(static_cast<int64_t>(stop_signal_->received())));
    std::string who;
    for (int r = 0; r < static_cast<int>(signals.size()); ++r) {
      if (signals[r] == 0) continue;
      if (summary->stop_signal == 0) summary->stop_signal = static_cast<int>(signals[r]);
      absl::StrAppend(&who, who.empty() ? "" : ", ", "rank ", r, " (", SignalName(static_cast<int>(signals[r])), ")");
    }
    FLOG(Warning) << "stop requested by " << who << "; all ranks stop after step " << step_;
    summary->stop_reason = "signal";
    return true;
  }
  if (stats.out_of_time) {
    summary->stop_reason = "max_seconds";
    return true;
  }
  return false;
}

void Trainer::PoisonOneWeight() {
  torch::NoGradGuard no_grad;
  model_->parameters().front().view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
}

absl::Status Trainer::ValidateAndTrack(TrainSummary* summary, bool* save_now, bool* out_of_patience) {
  const auto& eval = config_.eval();
  ASSIGN_OR_RETURN(summary->last_valid_loss, Validate());
  std::string bleu_text;
  if (valid_bleu_ != nullptr) {
    const auto start = Clock::now();
    ASSIGN_OR_RETURN(summary->last_valid_bleu, ValidationBleu());
    bleu_text = absl::StrFormat(" | bleu %.2f (%d sentences, %.1f s)", summary->last_valid_bleu,
                                valid_->size(), SecondsSince(start));
  }
  FLOG(Info) << absl::StrFormat("valid | step %d | nll %.4f | ppl %.2f%s", step_, summary->last_valid_loss,
                                std::exp(summary->last_valid_loss), bleu_text);
  if (events_ != nullptr) {
    WarnIfFailed(events_->AddScalar("valid/nll", summary->last_valid_loss, step_), &events_failed_);
    if (valid_bleu_ != nullptr) {
      WarnIfFailed(events_->AddScalar("valid/bleu", summary->last_valid_bleu, step_), &events_failed_);
    }
  }
  // Higher is better for every tracked metric: the loss enters negated.
  const double metric = valid_bleu_ != nullptr ? summary->last_valid_bleu : -summary->last_valid_loss;
  summary->validations.emplace_back(step_, metric);
  const bool improved = !best_metric_.has_value() || metric > *best_metric_;
  if (improved) best_metric_ = metric;
  validations_without_improvement_ = improved ? 0 : validations_without_improvement_ + 1;
  // The best K validations keep their checkpoints; one that enters the top K is saved now.
  const int keep_best = config_.checkpoint().keep_best();
  *save_now = false;
  if (keep_best > 0) {
    best_.emplace_back(step_, metric);
    std::stable_sort(best_.begin(), best_.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (static_cast<int>(best_.size()) > keep_best) best_.resize(keep_best);
    for (const auto& [step, value] : best_) {
      if (step == step_) *save_now = true;
    }
  }
  *out_of_patience = eval.patience() > 0 && validations_without_improvement_ >= eval.patience();
  if (*out_of_patience) {
    FLOG(Info) << "no improvement in " << validations_without_improvement_ << " validations (patience "
               << eval.patience() << "); stopping";
  }
  return absl::OkStatus();
}

absl::StatusOr<TrainSummary> Trainer::Run() {
  const auto& optim = config_.optim();
  const auto& eval = config_.eval();
  if (optim.max_steps() == 0 && optim.max_epochs() == 0 && optim.max_seconds() == 0) {
    return absl::InvalidArgumentError("optim: set max_steps, max_epochs or max_seconds");
  }
  const LrSchedule schedule(optim);
  SetCollectiveTimeout(/*long_phase=*/false);
  TrainSummary summary;
  // The wall-time budget (optim.max_seconds) and the time saved in checkpoints both count from
  // here, so set-up (data-dependent passes, resuming) is never charged to it.
  run_start_ = Clock::now();
  const auto start = run_start_;
  auto window_start = Clock::now();
  int64_t window_tokens = 0;
  double window_loss = 0, window_nll = 0;
  int64_t window_steps = 0;
  while (true) {
    // A run that ended by patience and is resumed has nothing left to do.
    if (eval.patience() > 0 && validations_without_improvement_ >= eval.patience()) {
      summary.stop_reason = "patience";
      break;
    }
    if (optim.max_steps() > 0 && step_ >= optim.max_steps()) {
      summary.stop_reason = "max_steps";
      break;
    }
    if (optim.max_epochs() > 0 && batcher_->position().epoch >= optim.max_epochs()) {
      summary.stop_reason = "max_epochs";
      break;
    }
    // Whether to stop after this update travels in the update's own reduction; rank 0's clock
    // alone decides the wall-time stop, so ranks never disagree about it.
    const double elapsed = seconds_before_ + SecondsSince(start);
    StopVote vote;
    vote.signalled = stop_signal_->received() != 0;
    vote.out_of_time =
        comm_->rank() == 0 && optim.max_seconds() > 0 && elapsed >= static_cast<double>(optim.max_seconds());
    std::vector<DeviceBatch> micro;
    for (int m = 0; m < optim.update_freq(); ++m) micro.push_back(NextBatch());
    if (step_ + 1 == nan_step_ && comm_->rank() == nan_rank_) PoisonOneWeight();
    const double lr = schedule.At(step_ + 1);
    ASSIGN_OR_RETURN(StepStats stats, runner_->Update(micro, lr, vote));
    if (!stats.finite) {
      // StepRunner reduced the verdict, so every rank stops here, at the same step.
      return absl::InternalError(absl::StrCat(
          "the loss or a gradient is NaN or infinite at step ", step_ + 1,
          " (on at least one rank; the update was not applied); ",
          "stopping without saving",
          last_saved_step_ >= 0 ? absl::StrCat(": the last checkpoint (step ", last_saved_step_, ") is intact")
                                : std::string(" (no checkpoint was saved before)"),
          ". Lower optim.lr, set optim.clip_norm, or check the data"));
    }
    if (stats.skipped) {
      // Float16 overflow: routine while the scale finds its level; every rank skipped together.
      FLOG(Info) << "step " << step_ + 1 << ": float16 gradients overflowed at loss scale " << stats.loss_scale
                 << "; update skipped, scale now " << loss_scaler_->scale();
      ASSIGN_OR_RETURN(const bool stop, StopAfterThisStep(stats, &summary));
      if (stop) break;
      continue;
    }
    ++step_;
    summary.losses.push_back(stats.loss);
    window_loss += stats.loss;
    window_nll += stats.nll;
    window_tokens += stats.target_tokens + stats.source_tokens;
    ++window_steps;
    if (step_ % eval.log_every_steps() == 0 && comm_->rank() == 0) {
      const double seconds = SecondsSince(window_start);
      const double loss = window_loss / window_steps, nll = window_nll / window_steps;
      const double total = seconds_before_ + SecondsSince(start);
      // Epochs done, as a fraction: the position after this step's batches.
      const double epochs = static_cast<double>(batcher_->position().epoch) +
                            static_cast<double>(batcher_->position().index) / batcher_->batches_per_epoch();
      // The run ends at whichever limit comes first.
      double left = std::numeric_limits<double>::infinity();
      if (optim.max_epochs() > 0 && epochs > 0) left = std::min(left, total / epochs * std::max(0.0, optim.max_epochs() - epochs));
      if (optim.max_steps() > 0) left = std::min(left, total / step_ * (optim.max_steps() - step_));
      if (optim.max_seconds() > 0) left = std::min(left, std::max(0.0, optim.max_seconds() - total));
      const std::string eta = std::isfinite(left) ? FormatDuration(left) : "-";
      FLOG(Info) << absl::StrFormat(
          "step %d | epoch %.2f | loss %.4f | nll %.4f | ppl %.2f | lr %.3g | gnorm %.3f | scale %g | "
          "tok/s %.0f | elapsed %s | eta %s",
          step_, epochs, loss, nll, std::exp(nll), lr, stats.grad_norm,
          loss_scaler_ != nullptr ? loss_scaler_->scale() : 1.0, window_tokens / std::max(seconds, 1e-9), FormatDuration(total), eta);
      if (events_ != nullptr) {
        const std::vector<std::pair<const char*, double>> scalars = {
            {"train/loss", loss},
            {"train/nll", nll},
            {"train/lr", lr},
            {"train/grad_norm", stats.grad_norm},
            {"train/loss_scale", loss_scaler_ != nullptr ? loss_scaler_->scale() : 1.0},
            {"train/tokens_per_second", window_tokens / std::max(seconds, 1e-9)}};
        for (const auto& [tag, value] : scalars) WarnIfFailed(events_->AddScalar(tag, value, step_), &events_failed_);
        WarnIfFailed(events_->Flush(), &events_failed_);
      }
      window_start = Clock::now();
      window_tokens = 0;
      window_loss = window_nll = 0;
      window_steps = 0;
    }
    const bool validate = step_ % eval.valid_every_steps() == 0;
    const bool save = step_ % config_.checkpoint().save_every_steps() == 0;
    if (validate || save) {
      SetCollectiveTimeout(/*long_phase=*/true);
      bool save_best = false, out_of_patience = false;  // patience is checked at the top
      if (validate) RETURN_IF_ERROR(ValidateAndTrack(&summary, &save_best, &out_of_patience));
      if (save || save_best) RETURN_IF_ERROR(SaveCheckpoint());
      SetCollectiveTimeout(/*long_phase=*/false);
    }
    ASSIGN_OR_RETURN(const bool stop, StopAfterThisStep(stats, &summary));
    if (stop) break;
  }
  SetCollectiveTimeout(/*long_phase=*/true);
  if (last_saved_step_ != step_) RETURN_IF_ERROR(SaveCheckpoint());
  summary.steps = step_;
  summary.epochs_started = batcher_->position().epoch + 1;
  if (summary.stop_reason == "signal") {
    FLOG(Warning) << "stopped at step " << step_ << " by " << SignalName(summary.stop_signal)
                  << " after saving a checkpoint; resume with --resume (exit code 75: requeue)";
  } else {
    FLOG(Info) << "stopped at step " << step_ << " (" << summary.stop_reason << ") after "
               << FormatDuration(SecondsSince(start)) << "; checkpoints in " << config_.run_dir()
               << "/checkpoints, TensorBoard logs in " << config_.run_dir() << "/tb";
  }
  return summary;
}

}  // namespace fathom::trainer
