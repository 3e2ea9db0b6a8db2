// CUDA kernels of the label-smoothed cross-entropy (kernels/label_smoothed_cross_entropy.h): one
// block per row reads the row's logits once (an online log-sum-exp per thread, merged across the
// block), a single block adds the rows' losses in a fixed order, and the backward pass writes
// upstream * (softmax - (1-eps) onehot - eps/V) in one pass per row.
#include <cuda_bf16.h>

#include "kernels/cuda_common.cuh"
#include "kernels/cuda_launch.h"

namespace fathom::kernels::cuda {
namespace {

constexpr int kMaxThreads = 512;

// Threads per row: about 16 logits each, a multiple of 32, at most kMaxThreads.
int ThreadsFor(int64_t vocab) {
  const int64_t threads = (vocab + 15) / 16;
  return threads >= kMaxThreads ? kMaxThreads : RoundUp32(threads);
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    RowKernel(const T* __restrict__ logits, const int64_t* __restrict__ targets,
              float* __restrict__ lse_out, float* __restrict__ row_sums, int64_t rows,
              int64_t vocab, int64_t pad, float smoothing) {
  __shared__ float scratch[64];
  const int64_t row = blockIdx.x;
  const T* z = logits + row * vocab;
  // Per thread: running maximum m, sum of exp(z - m), and the plain sum of the logits.
  float m = -INFINITY, s = 0.0f, total = 0.0f;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
    const float v = ToFloat(z[j]);
    total += v;
    if (v > m) {
      s = s * expf(m - v) + 1.0f;  // exp(-inf) = 0 on the first logit
      m = v;
    } else if (m != -INFINITY) {
      s += expf(v - m);  // a NaN logit lands here and makes the row NaN
    }
  }
  const float row_max = BlockMax(m, scratch);
  const float scaled = m == -INFINITY ? 0.0f : s * expf(m - row_max);
  const float2 sums = BlockSum2(make_float2(scaled, total), scratch);
  if (threadIdx.x != 0) return;
  const float lse = row_max + logf(sums.x);
  lse_out[row] = lse;
  const int64_t target = targets[row];
  float loss = 0.0f, nll = 0.0f;
  if (target != pad) {
    if (target < 0 || target >= vocab) {
      loss = nll = NAN;
    } else {
      const float fv = static_cast<float>(vocab);
      nll = lse - ToFloat(z[target]);
      const float smooth = lse * fv - sums.y;
      loss = (1.0f - smoothing) * nll + (smoothing / fv) * smooth;
    }
  }
  row_sums[row] = loss;
  row_sums[rows + row] = nll;
}

// sums[0], sums[1] = the rows' losses and nlls, added in a fixed order by one block.
__global__ void __launch_bounds__(1024)
    SumKernel(const float* __restrict__ row_sums, int64_t rows, float* __restrict__ sums) {
  __shared__ float scratch[64];
  float2 acc = make_float2(0.0f, 0.0f);
  for (int64_t i = threadIdx.x; i < rows; i += blockDim.x) {
    acc.x += row_sums[i];
    acc.y += row_sums[rows + i];
  }
  acc = BlockSum2(acc, scratch);
  if (threadIdx.x == 0) {
    sums[0] = acc.x;
    sums[1] = acc.y;
  }
}

template <typename T>
__global__ void __launch_bounds__(kMaxThreads)
    BackwardKernel(const T* __restrict__ logits, const int64_t* __restrict__ targets,
                   const float* __restrict__ lse, const float* __restrict__ upstream,
                   T* __restrict__ grad, int64_t vocab, int64_t pad, float smoothing) {
  const int64_t row = blockIdx.x;
  const T* z = logits + row * vocab;
  T* out = grad + row * vocab;
  const int64_t target = targets[row];
  if (target == pad) {
    for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) out[j] = FromFloat<T>(0.0f);
    return;
  }
  const float g = *upstream, l = lse[row];
  const float uniform = smoothing / static_cast<float>(vocab), hit = 1.0f - smoothing;
  for (int64_t j = threadIdx.x; j < vocab; j += blockDim.x) {
    float v = expf(ToFloat(z[j]) - l) - uniform;
    if (j == target) v -= hit;
    out[j] = FromFloat<T>(v * g);
  }
}

}  // namespace

cudaError_t CrossEntropyForward(const CrossEntropyForwardArgs& a, cudaStream_t stream) {
  if (a.vocab <= 0 || a.rows < 0 || a.rows > 0x7fffffff) return cudaErrorInvalidValue;
  if (a.rows > 0) {
    const int threads = ThreadsFor(a.vocab);
    const cudaError_t error = WithType(a.logits_type == DType::kBFloat16, [&](auto tag) {
      using T = typename decltype(tag)::type;
      RowKernel<T><<<static_cast<unsigned>(a.rows), threads, 0, stream>>>(
          static_cast<const T*>(a.logits), a.targets, a.lse, a.row_sums, a.rows, a.vocab, a.pad,
          a.smoothing);
      return cudaGetLastError();
    });
    if (error != cudaSuccess) return error;
  }
  SumKernel<<<1, 1024, 0, stream>>>(a.row_sums, a.rows, a.sums);
  return cudaGetLastError();
}

cudaError_t CrossEntropyBackward(const CrossEntropyBackwardArgs& a, cudaStream_t stream) {
  if (a.vocab <= 0 || a.rows < 0 || a.rows > 0x7fffffff) return cudaErrorInvalidValue;
  if (a.rows == 0) return cudaSuccess;
  const int threads = ThreadsFor(a.vocab);
  return WithType(a.logits_type == DType::kBFloat16, [&](auto tag) {
    using T = typename decltype(tag)::type;
    BackwardKernel<T><<<static_cast<unsigned>(a.rows), threads, 0, stream>>>(
        static_cast<const T*>(a.logits), a.targets, a.lse, a.upstream,
        static_cast<T*>(a.grad_logits), a.vocab, a.pad, a.smoothing);
    return cudaGetLastError();
  });
}

}  // namespace fathom::kernels::cuda
