#include "trainer/run_checkpoints.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "checkpoint/checkpoint_io.h"
#include "proto/config_io.h"
#include "trainer/generator_state.h"

namespace fathom::trainer {

RunCheckpointOptions RunCheckpointOptions::FromProto(const proto::RunConfig& config) {
  RunCheckpointOptions options;
  options.run_dir = config.run_dir();
  options.keep_last = config.checkpoint().keep_last();
  options.seed = config.seed();
  options.config_text = ConfigToText(config);
  return options;
}

absl::Status RunCheckpoints::Save() {
  const int64_t step = parts_.run->step;
  const data::BatcherPosition position = parts_.batcher->position();
  checkpoint::NamedTensors tensors = checkpoint::ModuleTensors(*parts_.model, "model.");
  for (const auto& [name, tensor] : parts_.optimizer->State()) {
    tensors.emplace_back("optimizer." + name, tensor);
  }
  proto::TrainingState state;
  state.set_step(step);
  state.set_epoch(position.epoch);
  state.mutable_iterator()->set_epoch(position.epoch);
  state.mutable_iterator()->set_index(position.index);
  state.mutable_iterator()->set_batches_per_epoch(parts_.batcher->batches_per_epoch());
  state.set_world_size(comm_->size());
  state.set_wall_clock_seconds(parts_.run->clock.Total());
  state.set_config_text(options_.config_text);
  for (double mu : parts_.run->dt_fixup_mu) state.add_dt_fixup_mu(mu);
  parts_.selection->SaveTo(&state);
  if (parts_.loss_scaler != nullptr) {
    state.set_loss_scale(parts_.loss_scaler->scale());
    state.set_loss_scale_growth_tracker(parts_.loss_scaler->growth_tracker());
  }
  // Each rank's generators, so a resumed run draws the same dropout masks.
  ASSIGN_OR_RETURN(const GeneratorBytes generators, SaveGenerators(device_));
  ASSIGN_OR_RETURN(std::vector<std::string> cpu_states, comm_->AllGatherBytes(generators.cpu));
  for (const auto& s : cpu_states) state.add_rng_state(s);
  if (device_.is_cuda()) {
    ASSIGN_OR_RETURN(std::vector<std::string> device_states,
                     comm_->AllGatherBytes(generators.device));
    for (const auto& s : device_states) state.add_cuda_rng_state(s);
  }
  // Rank 0 writes; every rank learns whether it worked, so none waits for a save that failed.
  const std::string& run_dir = options_.run_dir;
  absl::Status written = absl::OkStatus();
  if (comm_->rank() == 0) {
    try {
      written = checkpoint::WriteCheckpoint(run_dir, step, tensors, state);
    } catch (const std::exception& e) {  // copying tensors to the host can throw (CUDA, memory)
      written =
          absl::InternalError(absl::StrCat("writing under ", run_dir, "/checkpoints: ", e.what()));
    }
    if (written.ok()) {
      // An old checkpoint that cannot be deleted costs disk, not correctness.
      const absl::Status pruned =
          checkpoint::PruneCheckpoints(run_dir, options_.keep_last, parts_.selection->BestSteps());
      if (!pruned.ok()) FLOG(Warning) << "pruning old checkpoints: " << pruned.message();
    }
  }
  torch::Tensor failed = torch::tensor({written.ok() ? 0L : 1L});
  RETURN_IF_ERROR(comm_->AllReduce(failed, comm::ReduceOp::kMax));
  if (!written.ok()) {
    return absl::Status(written.code(),
                        absl::StrCat("saving the checkpoint of step ", step, " failed (",
                                     "the previous checkpoints are intact): ", written.message()));
  }
  if (failed.item<int64_t>() != 0) {
    return absl::InternalError(
        absl::StrCat("rank 0 could not save the checkpoint of step ", step,
                     " (its log says why); the previous checkpoints are intact"));
  }
  last_saved_step_ = step;
  FLOG(Info) << "saved checkpoint at step " << step;
  return absl::OkStatus();
}

absl::StatusOr<bool> RunCheckpoints::Resume() {
  // Rank 0 picks the checkpoint and every rank reads that one: ranks that each looked for
  // themselves could disagree (node-local disks, a file system cache) and one would start fresh
  // while the others resume, after which their collectives no longer match.
  std::string choice;  // rank 0: "" for none, "/dir" for a checkpoint, "!message" for an error
  absl::StatusOr<checkpoint::LoadedCheckpoint> loaded = absl::NotFoundError("not read");
  if (comm_->rank() == 0) {
    std::vector<std::string> skipped;
    loaded = checkpoint::ReadLatestValid(options_.run_dir, &skipped);
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
    FLOG(Info) << "no checkpoint in " << options_.run_dir << "; starting fresh";
    return false;
  }
  if (choice[0] == '!') {
    return absl::DataLossError(absl::StrCat("resuming (rank 0 chose): ", choice.substr(1)));
  }
  if (comm_->rank() != 0) loaded = checkpoint::ReadCheckpoint(choice);
  // Every rank must have read it before any goes on.
  torch::Tensor failed = torch::tensor({loaded.ok() ? 0L : 1L});
  RETURN_IF_ERROR(comm_->AllReduce(failed, comm::ReduceOp::kMax));
  if (!loaded.ok()) return loaded.status();
  if (failed.item<int64_t>() != 0) {
    return absl::DataLossError(
        absl::StrCat("another rank could not read ", choice, " (its log says why)"));
  }
  checkpoint::NamedTensors model_tensors, optimizer_tensors;
  for (auto& [name, tensor] : loaded->tensors) {
    if (name.rfind("model.", 0) == 0) model_tensors.emplace_back(name, tensor);
    if (name.rfind("optimizer.", 0) == 0) optimizer_tensors.emplace_back(name.substr(10), tensor);
  }
  RETURN_IF_ERROR(checkpoint::LoadIntoModule(*parts_.model, model_tensors, "model."));
  try {
    parts_.optimizer->LoadState(optimizer_tensors);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(loaded->dir, ": optimizer state: ", e.what()));
  }
  const proto::TrainingState& state = loaded->meta.state();
  RunState& run = *parts_.run;
  run.step = state.step();
  run.clock.set_seconds_before(state.wall_clock_seconds());
  run.dt_fixup_mu.assign(state.dt_fixup_mu().begin(), state.dt_fixup_mu().end());
  parts_.selection->RestoreFrom(state);
  if (parts_.loss_scaler != nullptr && state.has_loss_scale()) {
    RETURN_IF_ERROR(
        parts_.loss_scaler->Restore({state.loss_scale(), state.loss_scale_growth_tracker()}));
  }
  last_saved_step_ = run.step;
  // On another rank count (or batch budget) the epoch is dealt anew, as its batches depend on
  // both: resume at the same fraction of it, so no part of the epoch is skipped or seen twice
  // beyond the rounding of one step.
  data::Batcher& batcher = *parts_.batcher;
  const int64_t per_epoch = batcher.batches_per_epoch();
  const bool same_world = state.world_size() == comm_->size();
  // Checkpoints from before the count was recorded: the same epoch split over the saved ranks.
  const int64_t saved_per_epoch =
      std::max<int64_t>(1, state.iterator().has_batches_per_epoch()
                               ? state.iterator().batches_per_epoch()
                               : per_epoch * comm_->size() / std::max(1, state.world_size()));
  const bool dealt_anew = !same_world || saved_per_epoch != per_epoch;
  int64_t index = state.iterator().index();
  if (dealt_anew) index = std::llround(static_cast<double>(index) * per_epoch / saved_per_epoch);
  index = std::min(index, per_epoch);
  RETURN_IF_ERROR(batcher.Restore({state.iterator().epoch(), index}));
  // Seeded apart first, so that a generator the checkpoint does not restore (the CUDA one of a
  // checkpoint saved on CPU) still differs between ranks.
  SeedRankGenerators(options_.seed, comm_->rank(), run.step);
  if (same_world && state.rng_state_size() == comm_->size()) {
    GeneratorBytes generators;
    generators.cpu = state.rng_state(comm_->rank());
    if (state.cuda_rng_state_size() == comm_->size()) {
      generators.device = state.cuda_rng_state(comm_->rank());
    }
    if (device_.is_cuda() && generators.device.empty()) {
      FLOG(Warning) << loaded->dir
                    << " holds no CUDA generator state (saved on CPU): " << device_.str()
                    << "'s dropout masks will differ from an uninterrupted run's";
    }
    RETURN_IF_ERROR(RestoreGenerators(device_, generators, loaded->dir));
  }
  if (dealt_anew) {
    FLOG(Info) << "resuming " << state.world_size() << " rank(s) as " << comm_->size() << ": batch "
               << state.iterator().index() << " of " << saved_per_epoch
               << " in the saved epoch is batch " << index << " of " << per_epoch << " now"
               << (same_world ? "" : "; generators seeded anew (the saved ones are other ranks')");
  }
  FLOG(Info) << "resumed from " << loaded->dir << " at step " << run.step << " (epoch "
             << state.iterator().epoch() << ", batch " << index << ")";
  return true;
}

}  // namespace fathom::trainer
