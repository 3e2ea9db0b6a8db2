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
double TFixupEmbeddingScale(int64_t layers);   // (9 N)^-1/4, N the layers of the table's stack
// Relation-aware layers (N (4 mu^2 + 2 mu + 2))^-1/2, vanilla layers N^-1/2 / (2 mu).
double DtFixupScale(int64_t layers, double mu, bool relation_aware);
// The decoder's factor under DT-Fixup (init.dt_fixup_decoder): the vanilla factor with the
// larger mu (cross-attention reads the encoder's output), or T-Fixup's (9 N)^-1/4.
double DtFixupDecoderScale(int64_t layers, double encoder_mu, double decoder_mu,
                           proto::InitConfig::DtFixupDecoder rule);

// T-Fixup: FFN weights, attention output and (times sqrt 2, undoing the 1/sqrt(2) Xavier gain)
// value projections; the source table times (9 N_enc)^-1/4 and a separate target table times
// (9 N_dec)^-1/4 (a TIE_ALL table once, with N_enc, as the authors' code).
void ApplyTFixup(Seq2SeqImpl& model);

struct DtFixupOptions {
  proto::InitConfig::DtFixupDecoder decoder = proto::InitConfig::DECODER_VANILLA;
  double qk_gain = 1.0;  // Xavier gain of W_q and W_k (the default init drew 1/sqrt(2))
};
// DT-Fixup: value and output projections, FFN matrices and value relation embeddings of the
// encoder scaled with DtFixupScale(N_enc, encoder_mu), the decoder's with DtFixupDecoderScale;
// query and key projections brought to options.qk_gain.
void ApplyDtFixup(Seq2SeqImpl& model, double encoder_mu, double decoder_mu,
                  const DtFixupOptions& options = {});
// The vectors whose largest norm is DT-Fixup's mu, for the ids [B, T] of one side (model in
// eval mode): the embedding layer's output, or the table rows alone (init.dt_fixup_mu_input).
torch::Tensor DtFixupMuVectors(EmbeddingsImpl& embeddings, const torch::Tensor& ids,
                               proto::InitConfig::DtFixupMuInput where);
// Admin without profiling: every omega of a stack set to AdminConstantOmega(its sublayers).
void ApplyAdminConstant(Seq2SeqImpl& model);

// Copies pre-trained vectors [V, e] into the rows marked in `covered` [V] (bool). With
// `standardise` (arXiv 2407.12514), the covered vectors are first centred and rescaled to the
// std of the random table InitialiseDefault draws, e^-1/2, which the uncovered rows keep, so
// the table sits in one range and neither drowns the positions nor is drowned by them. Returns
// the std of the table.
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
