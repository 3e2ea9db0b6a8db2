// The loss a freshly initialised model starts from, against the loss of an output that knows
// nothing of its input. A tied output embedding can start far above it (docs/algorithms.md,
// "Tied output embeddings"); the trainer warns when it does.
#ifndef FATHOM_MODELS_INITIAL_LOSS_H_
#define FATHOM_MODELS_INITIAL_LOSS_H_

#include <torch/torch.h>

#include <cstdint>

#include "models/seq2seq.h"

namespace fathom::models {

// How far above expected() a loss must be to be "far above", in nats: the target then gets at
// most 1/e of the probability an input-blind output would give it.
inline constexpr double kFarAboveNats = 1.0;

struct InitialLoss {
  double loss = 0;            // mean cross-entropy per target token, nats
  double log_vocab = 0;       // log V
  double logit_variance = 0;  // s^2: variance of the logits over the vocabulary, mean over tokens
  // The loss of V Gaussian logits of variance s^2 that are independent of the target:
  // E[log sum_j e^z_j] - E[z_y] = log V + s^2 / 2. Positions, normalisation and scheme enter
  // through the measured s^2 (about 1 after a LayerNorm against an N(0, 1/d) output matrix).
  double expected() const { return log_vocab + logit_variance / 2; }
  // The tied-embedding symptom: the input token's own logit outweighs the whole vocabulary.
  bool far_above() const { return loss > expected() + kFarAboveNats; }
};

// Cross-entropy of `model` (eval mode, no gradient) on one batch; pad targets are ignored.
InitialLoss EstimateInitialLoss(Seq2SeqImpl& model, const torch::Tensor& source,
                                const torch::Tensor& target_input,
                                const torch::Tensor& target_output,
                                const torch::Tensor& relations = {});

// Su Jianlin's estimate of a tied output's initial loss with the default initialisation (table
// std d^-1/2, embeddings times sqrt(d), sinusoidal positions) and a near-identity stack ending
// in a LayerNorm, positions included: at position t the LayerNorm divides sqrt(d) e_i + p_t by
// sqrt(1 + v_t), v_t the variance of p_t over its features (LayerNorm centres it: 1/4 at t = 0,
// towards 1/2 as t grows), so the own logit is z_t = sqrt(d / (1 + v_t)) against V - 1 others
// of variance 1. Returns the mean over t < positions of log(e^z_t + (V - 1) e^(1/2)). d 256,
// V 8000: 14.04 over 20 positions, 13.34 over 1000, 13.09 in the limit (v = 1/2).
double PredictedTiedInitialLoss(int64_t d_model, int64_t vocab, int64_t positions);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_INITIAL_LOSS_H_
