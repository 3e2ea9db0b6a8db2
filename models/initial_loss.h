// The loss a freshly initialised model starts from, against the log V of a uniform guess. A tied
// output embedding can start far above log V (docs/algorithms.md, "Tied output embeddings");
// the trainer warns when it does.
#ifndef FATHOM_MODELS_INITIAL_LOSS_H_
#define FATHOM_MODELS_INITIAL_LOSS_H_

#include <torch/torch.h>

#include "models/seq2seq.h"

namespace fathom::models {

struct InitialLoss {
  double loss = 0;       // mean cross-entropy per target token, nats
  double log_vocab = 0;  // log V
  // "Far above": more than 1.5 log V, the tied-embedding symptom (22.6 vs 10.4 at d 512).
  bool far_above() const { return loss > 1.5 * log_vocab; }
};

// Cross-entropy of `model` (eval mode, no gradient) on one batch; pad targets are ignored.
InitialLoss EstimateInitialLoss(Seq2SeqImpl& model, const torch::Tensor& source,
                                const torch::Tensor& target_input,
                                const torch::Tensor& target_output,
                                const torch::Tensor& relations = {});

}  // namespace fathom::models

#endif  // FATHOM_MODELS_INITIAL_LOSS_H_
