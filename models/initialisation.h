// Initialisation schemes (formulas and sources in docs/algorithms.md, a section each). The
// data-dependent ones take what they need as arguments: Admin profiling a StatsReducer (the
// trainer passes an all-reduce), DT-Fixup the maximum input norms mu (reduced by the trainer).
#ifndef FATHOM_MODELS_INITIALISATION_H_
#define FATHOM_MODELS_INITIALISATION_H_

#include <torch/torch.h>

#include <vector>

#include "models/residual.h"
#include "models/seq2seq.h"

namespace fathom::models {

// Xavier-uniform linear weights (query/key/value with gain 1/sqrt(2), as fairseq), zero biases,
// N(0, e^-1/2) embedding tables (pad row zero), orthogonal output projection, omega = 1.
void InitialiseDefault(Seq2SeqImpl& model, uint64_t seed);

// Scales of each scheme, exposed so tests can check them against an independent computation.
double AdminConstantOmega(int64_t sublayers);  // sqrt((L+1)/ln(L+1) - 1)
double TFixupEncoderScale(int64_t layers);     // 0.67 N^-1/4
double TFixupDecoderScale(int64_t layers);     // (9 N)^-1/4
double DtFixupScale(int64_t layers, double mu, bool relation_aware);

// T-Fixup: FFN weights, attention output and (times sqrt 2, undoing the 1/sqrt(2) Xavier gain)
// value projections; decoder input embeddings times (9 N_dec)^-1/4.
void ApplyTFixup(Seq2SeqImpl& model);
// DT-Fixup: value and output projections, FFN matrices and value relation embeddings of each
// stack, scaled with that stack's mu.
void ApplyDtFixup(Seq2SeqImpl& model, double encoder_mu, double decoder_mu);
// Admin without profiling: every omega of a stack set to AdminConstantOmega(its sublayers).
void ApplyAdminConstant(Seq2SeqImpl& model);

// Copies pre-trained vectors [V, e] into the rows marked in `covered` [V] (bool). With
// `standardise` (arXiv 2407.12514), the covered vectors are first centred and rescaled to the
// Xavier std of the table, sqrt(2 / (V + e)), and the uncovered rows redrawn with that std, so
// the table sits in one range and positions are not drowned. Returns the std of the table.
double LoadPretrainedEmbeddings(EmbeddingsImpl& embeddings, const torch::Tensor& vectors,
                                const torch::Tensor& covered, bool standardise);

// Largest L2 norm over the real (non-pad) positions of x [B, T, d].
double MaxPositionNorm(const torch::Tensor& x, const torch::Tensor& padding);

struct AdminOmegas {
  std::vector<double> encoder;  // one per sublayer, forward order
  std::vector<double> decoder;
};
// Admin profiling on one batch (training mode, as the reference): sets every omega and
// returns them. `reduce` sums each sublayer's statistics across ranks; with the same reducer
// on every rank all ranks set the omegas of the union of their batches.
AdminOmegas ProfileAdmin(Seq2SeqImpl& model, const torch::Tensor& source,
                         const torch::Tensor& target_input, const torch::Tensor& relations,
                         const StatsReducer& reduce);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_INITIALISATION_H_
