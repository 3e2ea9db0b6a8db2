// Model FLOPs of a training step, for MFU: the one formula Fathom's progress line and
// bench/train_gpu.py (its train_flops, which mirrors this file) both use. Matrix multiplies only,
// 2 FLOPs per multiply-add, on real positions only (padding is not useful work), and a backward
// pass costing twice the forward: a step is 3 x forward.
//
// Per example with s source and t target positions (EOS/BOS included), d = d_model, f = ffn_dim,
// V = target vocabulary:
//   encoder layer: 8 d^2 s (q, k, v, out) + 4 d f s (FFN) + 4 d s^2 (QK^T, AV)
//                  [+ 4 d s^2 relation-aware: q.r_k and a.r_v, Shaw et al. 2018]
//   decoder layer: 8 d^2 t (self q, k, v, out) + 2 d t (t + 1) (causal QK^T and AV: half)
//                  + 4 d^2 t (cross q, out) + 4 d^2 s (cross k, v) + 4 d t s + 4 d f t
//   output layer:  2 d V t
// This is the convention of Megatron-LM's and PaLM's MFU (Narayanan et al. 2021; Chowdhery et
// al. 2022, appendix B) written for an encoder-decoder with the causal half counted.
#ifndef FATHOM_MODELS_FLOPS_H_
#define FATHOM_MODELS_FLOPS_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "models/model_options.h"

namespace fathom::models {

// The sums over a batch's examples that the formula needs; they add up across batches.
struct LengthSums {
  double s = 0;   // sum of s
  double ss = 0;  // sum of s^2
  double t = 0;   // sum of t
  double tt = 0;  // sum of t (t + 1)
  double ts = 0;  // sum of t s

  void Add(int64_t source_positions, int64_t target_positions);
  LengthSums& operator+=(const LengthSums& other);
};

// FLOPs of one training step (forward and backward) over the examples summed in `lengths`.
double TrainingFlops(const ModelOptions& model, const LengthSums& lengths);

// The dense bfloat16 tensor-core peak of a GPU in TFLOP/s from NVIDIA's data sheets, matched
// as a substring of its name (the first match wins, so the specific names come first); 0 when
// the name is unknown. bench/train_gpu.py has the same table.
double PeakBf16Tflops(absl::string_view device_name);

}  // namespace fathom::models

#endif  // FATHOM_MODELS_FLOPS_H_
