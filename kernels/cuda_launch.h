// Launchers of Fathom's CUDA kernels (the .cu files), free of LibTorch so that nvcc compiles them
// quickly: raw pointers, sizes and a stream. The .cc files check tensors and call these. Each
// launcher only enqueues work on `stream` (no allocation, no host synchronisation, so it can be
// captured in a CUDA graph) and returns the launch's error. Defined only in builds that compile
// the .cu files (FATHOM_KERNELS_CUDA).
#ifndef FATHOM_KERNELS_CUDA_LAUNCH_H_
#define FATHOM_KERNELS_CUDA_LAUNCH_H_

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fathom::kernels::cuda {

// Element types of the tensors the kernels read and write; computing is always in float32.
enum class DType : int { kFloat32, kBFloat16 };

// Widest row (d) the LayerNorm kernels take: each thread keeps up to 8 elements of a row in
// registers, with at most 512 threads per row.
inline constexpr int64_t kMaxLayerNormWidth = 4096;

// y = LayerNorm(omega * x + f) * gamma + beta over rows of d; omega null means x + f.
struct ResidualLayerNormForwardArgs {
  const void* x = nullptr;
  DType x_type = DType::kFloat32;
  const void* f = nullptr;
  DType f_type = DType::kFloat32;
  const float* omega = nullptr;  // [d] or null
  const float* gamma = nullptr;  // [d]
  const float* beta = nullptr;   // [d]
  void* y = nullptr;
  DType y_type = DType::kFloat32;
  float* mean = nullptr;  // [rows], written for the backward pass
  float* rstd = nullptr;  // [rows]: 1 / sqrt(var + eps)
  int64_t rows = 0, d = 0;
  float eps = 1e-5f;
};
cudaError_t ResidualLayerNormForward(const ResidualLayerNormForwardArgs& a, cudaStream_t stream);

// Gradients of the above from dy (y's type). `blocks` blocks stride over the rows and write their
// column sums to `partials` ([blocks, 3, d] float32 scratch), which a second kernel adds up in a
// fixed order, so the results are deterministic.
struct ResidualLayerNormBackwardArgs {
  const void* dy = nullptr;
  DType dy_type = DType::kFloat32;
  const void* x = nullptr;
  DType x_type = DType::kFloat32;
  const void* f = nullptr;
  DType f_type = DType::kFloat32;
  const float* omega = nullptr;  // [d] or null
  const float* gamma = nullptr;
  const float* mean = nullptr;
  const float* rstd = nullptr;
  void* dx = nullptr;         // x_type
  void* df = nullptr;         // f_type
  float* partials = nullptr;  // [blocks, 3, d]
  float* domega = nullptr;    // [d], ignored when omega is null
  float* dgamma = nullptr;    // [d]
  float* dbeta = nullptr;     // [d]
  int64_t rows = 0, d = 0;
  int blocks = 1;
};
cudaError_t ResidualLayerNormBackward(const ResidualLayerNormBackwardArgs& a, cudaStream_t stream);

// Label-smoothed cross-entropy of logits [rows, vocab] against targets [rows] (int64; rows whose
// target is `pad` count zero). Writes lse [rows] (log-sum-exp, for the backward pass),
// row_sums [2, rows] scratch, and sums [2] = (sum of (1-eps) nll + eps/V sum_j -log p_j, sum of
// nll). A target outside [0, vocab) that is not `pad` makes both sums NaN.
struct CrossEntropyForwardArgs {
  const void* logits = nullptr;
  DType logits_type = DType::kFloat32;
  const int64_t* targets = nullptr;
  float* lse = nullptr;
  float* row_sums = nullptr;
  float* sums = nullptr;
  int64_t rows = 0, vocab = 0, pad = 0;
  float smoothing = 0;
};
cudaError_t CrossEntropyForward(const CrossEntropyForwardArgs& a, cudaStream_t stream);

// grad_logits = upstream[0] * (softmax - (1-eps) onehot(target) - eps/V), zero at pad rows, in
// the logits' type; `upstream` is read on the device.
struct CrossEntropyBackwardArgs {
  const void* logits = nullptr;
  DType logits_type = DType::kFloat32;
  const int64_t* targets = nullptr;
  const float* lse = nullptr;
  const float* upstream = nullptr;
  void* grad_logits = nullptr;
  int64_t rows = 0, vocab = 0, pad = 0;
  float smoothing = 0;
};
cudaError_t CrossEntropyBackward(const CrossEntropyBackwardArgs& a, cudaStream_t stream);

// One tensor of the multi-tensor Adam: param and grad of `type`, moments float32, n elements.
struct AdamTensor {
  void* param = nullptr;
  const void* grad = nullptr;
  float* exp_avg = nullptr;
  float* exp_avg_sq = nullptr;
  int64_t n = 0;
  DType type = DType::kFloat32;
};
// The coefficients of kernels/multi_tensor_adam.h's AdamHyper, with the derived ones the CPU
// loop (trainer/fused_adam_cpu.cc) computes once per step.
struct AdamCoefficients {
  float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, l2, decay, inv_bias2, step;
  bool adaptive;
};
// Updates `count` tensors in launches over chunks of all of them (the tensors' pointers travel in
// the kernel's arguments); every kernel returns at once when *found_inf != 0.
cudaError_t MultiTensorAdam(const AdamTensor* tensors, int64_t count, const AdamCoefficients& c,
                            const float* grad_scale, const float* found_inf, cudaStream_t stream);

}  // namespace fathom::kernels::cuda

#endif  // FATHOM_KERNELS_CUDA_LAUNCH_H_
