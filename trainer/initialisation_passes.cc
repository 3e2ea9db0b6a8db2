#include "trainer/initialisation_passes.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

#include "absl/strings/str_cat.h"
#include "base/logging.h"
#include "base/status_macros.h"
#include "models/initial_loss.h"
#include "models/initialisation.h"
#include "trainer/device_batch.h"
#include "trainer/generator_state.h"
#include "trainer/run_clock.h"

namespace fathom::trainer {
namespace {

// An all-reduce SUM of Admin's per-sublayer statistics: every rank profiles its own batches
// and all set the omegas of the union.
models::StatsReducer SumAcross(comm::Communicator* comm) {
  return [comm](torch::Tensor& stats) {
    const absl::Status status = comm->AllReduce(stats, comm::ReduceOp::kSum);
    if (!status.ok()) throw std::runtime_error(std::string(status.message()));
  };
}

}  // namespace

InitialisationOptions InitialisationOptions::FromProto(const proto::RunConfig& config) {
  InitialisationOptions options;
  options.seed = config.seed();
  options.method = config.init().method();
  options.admin_profile_batches = config.init().admin_profile_batches();
  options.standardise_pretrained = config.model().standardise_pretrained();
  options.dt_fixup_mu_input = config.init().dt_fixup_mu_input();
  options.dt_fixup.decoder = config.init().dt_fixup_decoder();
  options.dt_fixup.qk_gain = config.init().dt_fixup_qk_gain();
  return options;
}

absl::StatusOr<std::vector<double>> InitialisationPasses::Run(models::Seq2SeqImpl& model) {
  models::InitialiseDefault(model, options_.seed);
  if (pretrained_ != nullptr) ApplyPretrained(model, *pretrained_, options_.standardise_pretrained);
  // Every rank starts from rank 0's parameters.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model.parameters()) {
      torch::Tensor t = p.detach();
      RETURN_IF_ERROR(comm_->Broadcast(t, 0));
    }
  }
  // From here on each rank draws its own dropout masks.
  SeedRankGenerators(options_.seed, comm_->rank(), 0);
  std::vector<double> mu;
  switch (options_.method) {
    case proto::InitConfig::ADMIN:
      RETURN_IF_ERROR(ProfileAdmin(model));
      break;
    case proto::InitConfig::ADMIN_CONSTANT:
      models::ApplyAdminConstant(model);
      break;
    case proto::InitConfig::T_FIXUP:
      models::ApplyTFixup(model);
      break;
    case proto::InitConfig::DT_FIXUP: {
      ASSIGN_OR_RETURN(mu, DtFixupMu(model));
      models::ApplyDtFixup(model, mu[0], mu[1], options_.dt_fixup);
      break;
    }
    default:
      break;
  }
  RETURN_IF_ERROR(ReportInitialLoss(model));
  return mu;
}

absl::Status InitialisationPasses::ProfileAdmin(models::Seq2SeqImpl& model) {
  // Profile on the union of this rank's first batches, stacked into one so that every
  // sublayer's variance is taken over all of them (omega_k is needed before sublayer k+1
  // runs); the statistics are summed over ranks.
  const data::BatcherPosition start = data_->batcher().position();
  std::vector<DeviceBatch> batches;
  for (int b = 0; b < options_.admin_profile_batches; ++b) batches.push_back(data_->Next());
  try {
    const DeviceBatch profile = Concatenate(batches, model.options().pad_id);
    const models::AdminOmegas omegas = models::ProfileAdmin(
        model, profile.source, profile.target_input, profile.relations, SumAcross(comm_));
    FLOG(Info) << "Admin omegas over " << batches.size() << " batch(es) on " << comm_->size()
               << " rank(s): encoder " << omegas.encoder.front() << " -> " << omegas.encoder.back()
               << ", decoder " << omegas.decoder.front() << " -> " << omegas.decoder.back();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("Admin profiling failed: ", e.what()));
  }
  return data_->batcher().Restore(start);
}

absl::StatusOr<std::vector<double>> InitialisationPasses::DtFixupMu(models::Seq2SeqImpl& model) {
  // mu: the largest input norm over ALL training examples: each rank over its shard (its
  // batches of one epoch), then the maximum across ranks.
  const auto start_time = std::chrono::steady_clock::now();
  const int32_t pad = data_->special().pad;
  model.eval();
  torch::NoGradGuard no_grad;
  double mu_enc = 0, mu_dec = 0;
  int64_t examples = 0;
  for (const data::BatchPlan& plan : data_->batcher().EpochBatches(0)) {
    const DeviceBatch batch = data_->Make(plan, /*with_relations=*/false);
    const auto where = options_.dt_fixup_mu_input;
    mu_enc = std::max(mu_enc,
                      models::MaxPositionNorm(
                          models::DtFixupMuVectors(*model.source_embeddings, batch.source, where),
                          batch.source.eq(pad)));
    mu_dec = std::max(
        mu_dec, models::MaxPositionNorm(
                    models::DtFixupMuVectors(*model.target_embeddings, batch.target_input, where),
                    batch.target_input.eq(pad)));
    examples += static_cast<int64_t>(plan.examples.size());
  }
  torch::Tensor mu = torch::tensor({mu_enc, mu_dec}, torch::kDouble);
  RETURN_IF_ERROR(comm_->AllReduce(mu, comm::ReduceOp::kMax));
  torch::Tensor count = torch::tensor({examples}, torch::kLong);
  RETURN_IF_ERROR(comm_->AllReduce(count, comm::ReduceOp::kSum));
  std::vector<double> result = {mu[0].item<double>(), mu[1].item<double>()};
  const models::ModelOptions& o = model.options();
  FLOG(Info) << "mu = " << result[0] << " over " << count.item<int64_t>() << " examples on "
             << comm_->size() << " ranks (decoder input: " << result[1] << "; measured on "
             << proto::InitConfig::DtFixupMuInput_Name(options_.dt_fixup_mu_input) << ", "
             << SecondsSince(start_time) << " s); factors: encoder "
             << models::DtFixupScale(o.encoder_layers, result[0], o.num_relations > 0)
             << (o.num_relations > 0 ? " (relation-aware)" : " (vanilla)") << ", decoder "
             << models::DtFixupDecoderScale(o.decoder_layers, result[0], result[1],
                                            options_.dt_fixup.decoder)
             << " (" << proto::InitConfig::DtFixupDecoder_Name(options_.dt_fixup.decoder)
             << "), query/key gain " << options_.dt_fixup.qk_gain;
  model.train();
  return result;
}

absl::Status InitialisationPasses::ReportInitialLoss(models::Seq2SeqImpl& model) {
  const data::BatcherPosition start = data_->batcher().position();
  const DeviceBatch probe = data_->Next();
  RETURN_IF_ERROR(data_->batcher().Restore(start));
  const models::InitialLoss initial = models::EstimateInitialLoss(
      model, probe.source, probe.target_input, probe.target_output, probe.relations);
  if (initial.far_above()) {
    FLOG(Warning) << "initial loss " << initial.loss << " is far above " << initial.expected()
                  << ", the loss of an output blind to its input (log V = " << initial.log_vocab
                  << " plus half the logit variance " << initial.logit_variance << ")"
                  << (model.options().output_tied()
                          ? "; the output is tied to the input embeddings: consider "
                            "model.tied_output_remedy"
                          : "");
  } else {
    FLOG(Info) << "initial loss " << initial.loss << " (expected " << initial.expected()
               << ": log V = " << initial.log_vocab << " plus half the logit variance "
               << initial.logit_variance << ")";
  }
  return absl::OkStatus();
}

}  // namespace fathom::trainer
