#include "trainer/trainer.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "comm/communicator_factory.h"
#include "models/model_options.h"
#include "proto/config_io.h"
#include "proto/config_validation.h"
#include "trainer/event_writer.h"
#include "trainer/initialisation_passes.h"
#include "trainer/loss_scaler.h"
#include "trainer/lr_schedule.h"
#include "trainer/model_selection.h"
#include "trainer/optimizer.h"
#include "trainer/pretrained_embeddings.h"
#include "trainer/progress_reporter.h"
#include "trainer/step_runner.h"
#include "trainer/stop_signal.h"
#include "trainer/training_data.h"
#include "trainer/validator.h"

namespace fathom::trainer {
namespace {

// Rank 0: run_dir/config.pbtxt and the SentencePiece model(s), which travel with the run:
// `fathom translate` needs nothing else.
absl::Status WriteRunDir(const proto::RunConfig& config, const proto::ShardHeader& header) {
  const std::string& run_dir = config.run_dir();
  RETURN_IF_ERROR(MakeDirs(run_dir));
  RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(run_dir, "/config.pbtxt"), ConfigToText(config)));
  for (const std::string& spm :
       {header.source_vocab().model_file(), header.target_vocab().model_file()}) {
    ASSIGN_OR_RETURN(std::string spm_bytes,
                     ReadFileToString(absl::StrCat(config.data().prepared_dir(), "/", spm)));
    RETURN_IF_ERROR(WriteFileAtomic(absl::StrCat(run_dir, "/", spm), spm_bytes));
  }
  return absl::OkStatus();
}

}  // namespace

Trainer::Trainer(const proto::RunConfig& config, comm::Communicator* comm, torch::Device device)
    : config_(config), comm_(comm), device_(device) {}

Trainer::~Trainer() = default;

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const proto::RunConfig& config,
                                                         comm::Communicator* comm, bool resume,
                                                         torch::Device device) {
  std::unique_ptr<Trainer> trainer(new Trainer(config, comm, device));
  RETURN_IF_ERROR(trainer->Setup(resume));
  return trainer;
}

data::BatcherPosition Trainer::position() const { return data_->batcher().position(); }

int64_t Trainer::batches_per_epoch() const { return data_->batcher().batches_per_epoch(); }

absl::Status Trainer::set_read_every(int64_t updates) { return runner_->set_read_every(updates); }

absl::Status Trainer::Setup(bool resume) {
  stop_signal_ = std::make_unique<StopSignal>();
  SetCollectiveTimeout(/*long_phase=*/true);  // set-up reads data and checkpoints unevenly
  ASSIGN_OR_RETURN(data_, TrainingData::Open(config_, comm_->rank(), comm_->size(), device_));
  ASSIGN_OR_RETURN(validator_, Validator::Open(ValidatorOptions::FromProto(config_),
                                               data_->special(), comm_, device_));
  // Threads: all cores shared by the ranks of this host, unless the config says otherwise.
  const int threads = comm::ThreadsPerRank(*comm_, config_.distributed().threads());
  torch::set_num_threads(threads);

  const auto& header = data_->dataset().header();
  const int64_t relations = header.has_relations() ? header.relations().num_relations() : 0;
  // Pre-trained vectors set the width of the embedding tables, so they are read first.
  ASSIGN_OR_RETURN(std::optional<PretrainedEmbeddings> pretrained,
                   LoadConfiguredPretrained(config_, config_.data().prepared_dir(), header));
  ASSIGN_OR_RETURN(
      models::ModelOptions options,
      models::ModelOptions::FromProto(config_.model(), config_.init(), header.source_vocab().size(),
                                      header.target_vocab().size(), data_->special().pad, relations,
                                      pretrained ? pretrained->width() : 0));
  options.fused_kernels = config_.distributed().fused_kernels();
  model_ = models::Seq2Seq(options);
  model_->to(device_);
  if (config_.distributed().precision() == proto::DistributedConfig::FP16) {
    if (!device_.is_cuda()) {
      return absl::UnimplementedError(
          "distributed.precision: FP16 needs CUDA (LibTorch has no float16 matrix multiply on "
          "CPU); use BF16");
    }
    ASSIGN_OR_RETURN(LossScalerOptions scaler_options,
                     LossScalerOptions::FromProto(config_.distributed()));
    loss_scaler_ = std::make_unique<LossScaler>(scaler_options);
  }
  // Made before the parameters are set: initialisation and resuming change them in place.
  optimizer_ = std::make_unique<Optimizer>(model_->parameters(),
                                           OptimizerOptions::FromProto(config_.optim()));
  selection_ = std::make_unique<ModelSelection>(ModelSelectionOptions::FromProto(config_));
  checkpoints_ = std::make_unique<RunCheckpoints>(
      RunCheckpointOptions::FromProto(config_), comm_, device_,
      CheckpointedParts{model_, optimizer_.get(), &data_->batcher(), selection_.get(),
                        loss_scaler_.get(), &run_});
  bool resumed = false;
  if (resume) {
    ASSIGN_OR_RETURN(resumed, checkpoints_->Resume());
  }
  if (!resumed) {
    InitialisationPasses passes(InitialisationOptions::FromProto(config_), comm_, data_.get(),
                                pretrained ? &*pretrained : nullptr);
    ASSIGN_OR_RETURN(run_.dt_fixup_mu, passes.Run(*model_));
  }
  runner_ =
      std::make_unique<StepRunner>(model_, optimizer_.get(), comm_,
                                   StepOptions::FromProto(config_, device_), loss_scaler_.get());

  std::unique_ptr<EventWriter> events;  // rank 0's
  if (comm_->rank() == 0) {
    RETURN_IF_ERROR(WriteRunDir(config_, header));
    ASSIGN_OR_RETURN(events, EventWriter::Create(absl::StrCat(config_.run_dir(), "/tb")));
  }
  progress_ = std::make_unique<ProgressReporter>(
      ProgressOptions::FromProto(config_, comm_->size(), device_), &run_.clock, &data_->batcher(),
      loss_scaler_.get(), std::move(events));
  int64_t parameters = 0;
  for (const auto& p : model_->parameters()) parameters += p.numel();
  FLOG(Info) << comm_->Describe() << "; " << threads << " threads per rank; model "
             << options.encoder_layers << "L-" << options.decoder_layers << "L d "
             << options.d_model << ", " << parameters << " parameters; " << data_->dataset().size()
             << " training examples, " << batches_per_epoch() << " batches per epoch per rank";
  return absl::OkStatus();
}

absl::StatusOr<TrainSummary> Trainer::Run() {
  const auto& optim = config_.optim();
  RETURN_IF_ERROR(ValidateTrainConfig(config_));  // `fathom train` checked it before MPI started
  const LrSchedule schedule(LrScheduleOptions::FromProto(optim, config_.init().method()));
  FLOG(Info) << schedule.Describe();
  if (const std::string warning = schedule.Warning(); !warning.empty() && comm_->rank() == 0) {
    FLOG(Warning) << warning;
  }
  SetCollectiveTimeout(/*long_phase=*/false);
  TrainSummary summary;
  run_.clock.Start();  // set-up (initialisation passes, resuming) is not charged to the run
  progress_->Start();
  while (true) {
    summary.stop_reason = StopBeforeStep();
    if (summary.stop_reason != StopReason::kNone) break;
    const int64_t before = run_.step;
    ASSIGN_OR_RETURN(summary.stop_reason, Step(schedule, &summary));
    // Not after a float16 overflow, which skipped the update and left the step where it was.
    if (run_.step > before) RETURN_IF_ERROR(ValidateAndSaveWhenDue(&summary));
    if (summary.stop_reason != StopReason::kNone) break;
  }
  // The last updates are read before the last save (which must not follow a non-finite one).
  if (runner_->pending() > 0) RETURN_IF_ERROR(ReadBack(schedule, &summary).status());
  SetCollectiveTimeout(/*long_phase=*/true);
  if (checkpoints_->last_saved_step() != run_.step) RETURN_IF_ERROR(checkpoints_->Save());
  summary.steps = run_.step;
  summary.epochs_started = position().epoch + 1;
  progress_->Stopped(run_.step, summary.stop_reason, summary.stop_signal);
  return summary;
}

StopReason Trainer::StopBeforeStep() const {
  const auto& optim = config_.optim();
  // A run that ended by patience and is resumed has nothing left to do.
  if (selection_->OutOfPatience()) return StopReason::kPatience;
  if (optim.max_steps() > 0 && run_.step >= optim.max_steps()) return StopReason::kMaxSteps;
  if (optim.max_epochs() > 0 && position().epoch >= optim.max_epochs()) {
    return StopReason::kMaxEpochs;
  }
  return StopReason::kNone;
}

absl::StatusOr<StopReason> Trainer::Step(const LrSchedule& schedule, TrainSummary* summary) {
  const auto& optim = config_.optim();
  // Whether to stop travels in every update's reduction and is looked at when the update is
  // read; rank 0's clock alone decides the wall-time stop, so ranks never disagree about it.
  StopVote vote;
  vote.signalled = stop_signal_->received() != 0;
  vote.out_of_time = comm_->rank() == 0 && optim.max_seconds() > 0 &&
                     run_.clock.Total() >= static_cast<double>(optim.max_seconds());
  std::vector<DeviceBatch> micro;
  for (int m = 0; m < optim.update_freq(); ++m) micro.push_back(data_->Next());
  if (before_step_) before_step_(run_.step + 1, *model_);
  RETURN_IF_ERROR(runner_->Update(micro, schedule.At(run_.step + 1), vote));
  ++run_.step;  // ReadBack takes it back if float16 gradients overflowed
  const bool validate_or_save = run_.step % config_.eval().valid_every_steps() == 0 ||
                                run_.step % config_.checkpoint().save_every_steps() == 0;
  // Reads fall on multiples of the interval (so progress lines do too), and before a
  // validation or checkpoint, which may fall between them.
  if (run_.step % runner_->read_every() != 0 && !validate_or_save) return StopReason::kNone;
  ASSIGN_OR_RETURN(const StepStats stats, ReadBack(schedule, summary));
  return StopAfterRead(stats, &summary->stop_signal);
}

absl::StatusOr<StepStats> Trainer::ReadBack(const LrSchedule& schedule, TrainSummary* summary) {
  const int64_t first = run_.step - runner_->pending() + 1;
  ASSIGN_OR_RETURN(const StepStats stats, runner_->Read());
  if (!stats.finite) {
    // StepRunner reduced the verdict, so every rank stops here, at the same read. The updates
    // were skipped where they ran, so the parameters are those of the last finite update, but
    // nothing after the last checkpoint is saved.
    const int64_t saved = checkpoints_->last_saved_step();
    return absl::InternalError(absl::StrCat(
        "the loss or a gradient is NaN or infinite ",
        stats.updates == 1 ? absl::StrCat("at step ", run_.step)
                           : absl::StrCat("in ", stats.nonfinite_updates, " of the updates ", first,
                                          " to ", run_.step),
        " (on at least one rank; ", stats.updates == 1 ? "the update was" : "those updates were",
        " not applied); stopping without saving",
        saved >= 0 ? absl::StrCat(": the last checkpoint (step ", saved, ") is intact")
                   : std::string(" (no checkpoint was saved before)"),
        ". Lower optim.lr, set optim.clip_norm, or check the data"));
  }
  if (stats.skipped) {
    // A float16 overflow (read at once, one update): every rank skipped together.
    --run_.step;
    progress_->Skipped(run_.step + 1, stats);
    return stats;
  }
  summary->losses.push_back(stats.update_loss_sum / static_cast<double>(stats.updates));
  progress_->Update(run_.step, schedule.At(run_.step), stats);
  return stats;
}

absl::Status Trainer::ValidateAndSaveWhenDue(TrainSummary* summary) {
  const bool validate = run_.step % config_.eval().valid_every_steps() == 0;
  const bool save = run_.step % config_.checkpoint().save_every_steps() == 0;
  if (!validate && !save) return absl::OkStatus();
  SetCollectiveTimeout(/*long_phase=*/true);
  bool save_best = false;  // patience is checked before the next step
  if (validate) {
    ASSIGN_OR_RETURN(save_best, Validate(summary));
  }
  if (save || save_best) RETURN_IF_ERROR(checkpoints_->Save());
  SetCollectiveTimeout(/*long_phase=*/false);
  return absl::OkStatus();
}

absl::StatusOr<bool> Trainer::Validate(TrainSummary* summary) {
  ASSIGN_OR_RETURN(const ValidationResult result, validator_->Run(*model_));
  summary->last_valid_loss = result.nll;
  if (result.bleu.has_value()) summary->last_valid_bleu = *result.bleu;
  progress_->Validation(run_.step, result);
  summary->validations.emplace_back(run_.step, result.Metric());
  return selection_->Track(run_.step, result.Metric());
}

absl::StatusOr<StopReason> Trainer::StopAfterRead(const StepStats& stats, int* signal) {
  if (stats.ranks_signalled > 0) {
    // Rare: learn which ranks were signalled, for the log.
    ASSIGN_OR_RETURN(std::vector<int64_t> signals,
                     comm_->AllGather(static_cast<int64_t>(stop_signal_->received())));
    std::string who;
    for (int r = 0; r < static_cast<int>(signals.size()); ++r) {
      if (signals[r] == 0) continue;
      if (*signal == 0) *signal = static_cast<int>(signals[r]);
      absl::StrAppend(&who, who.empty() ? "" : ", ", "rank ", r, " (",
                      SignalName(static_cast<int>(signals[r])), ")");
    }
    FLOG(Warning) << "stop requested by " << who << "; all ranks stop after step " << run_.step;
    return StopReason::kSignal;
  }
  if (stats.out_of_time) return StopReason::kMaxSeconds;
  return StopReason::kNone;
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

}  // namespace fathom::trainer
