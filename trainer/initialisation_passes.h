// The initialisation of a fresh run (docs/algorithms.md): the default initialisation from the
// seed, rank 0's parameters broadcast to every rank, per-rank dropout generators, then the
// scheme of init.method with its data-dependent pass across ranks (Admin's profiling of the
// first batches, DT-Fixup's input norm over the whole training split), and a check of the
// initial loss. A resumed run skips all of it.
#ifndef FATHOM_TRAINER_INITIALISATION_PASSES_H_
#define FATHOM_TRAINER_INITIALISATION_PASSES_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "comm/communicator.h"
#include "models/initialisation.h"
#include "models/seq2seq.h"
#include "proto/config.pb.h"
#include "trainer/pretrained_embeddings.h"
#include "trainer/training_data.h"

namespace fathom::trainer {

struct InitialisationOptions {
  uint64_t seed = 1;                                              // seed
  proto::InitConfig::Method method = proto::InitConfig::POST_LN;  // init.method
  int admin_profile_batches = 1;                                  // init.admin_profile_batches
  bool standardise_pretrained = true;                             // model.standardise_pretrained
  proto::InitConfig::DtFixupMuInput dt_fixup_mu_input =           // init.dt_fixup_mu_input
      proto::InitConfig::LAYER_INPUT;
  models::DtFixupOptions dt_fixup;  // init.dt_fixup_decoder, init.dt_fixup_qk_gain

  static InitialisationOptions FromProto(const proto::RunConfig& config);
};

class InitialisationPasses {
 public:
  // `data`: read for the data-dependent passes and left where it was. `pretrained`: vectors for
  // the source table (model.pretrained_embeddings), copied in right after the default
  // initialisation so that the scheme's passes see them; null for none.
  InitialisationPasses(InitialisationOptions options, comm::Communicator* comm, TrainingData* data,
                       const PretrainedEmbeddings* pretrained = nullptr)
      : options_(options), comm_(comm), data_(data), pretrained_(pretrained) {}

  // A collective. Returns DT-Fixup's mu (encoder, decoder), which checkpoints keep; empty for
  // the other schemes.
  absl::StatusOr<std::vector<double>> Run(models::Seq2SeqImpl& model);

 private:
  absl::Status ProfileAdmin(models::Seq2SeqImpl& model);
  // The largest input norm over all training examples: encoder and decoder.
  absl::StatusOr<std::vector<double>> DtFixupMu(models::Seq2SeqImpl& model);
  // A tied output can start far above log V; say so before hours of training.
  absl::Status ReportInitialLoss(models::Seq2SeqImpl& model);

  InitialisationOptions options_;
  comm::Communicator* comm_;
  TrainingData* data_;
  const PretrainedEmbeddings* pretrained_;
};

}  // namespace fathom::trainer

#endif  // FATHOM_TRAINER_INITIALISATION_PASSES_H_
