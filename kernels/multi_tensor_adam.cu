// CUDA kernel of MultiTensorAdam (kernels/multi_tensor_adam.h). As PyTorch's multi_tensor_apply
// does, each launch carries a table of up to kMaxTensors tensors and kMaxBlocks (tensor, chunk)
// pairs in its kernel arguments (under the 4 KiB every architecture accepts), so a step is a few
// launches, with no device buffer to fill and nothing for the host to wait on.
#include <cuda_bf16.h>

#include "kernels/cuda_common.cuh"
#include "kernels/cuda_launch.h"

namespace fathom::kernels::cuda {
namespace {

constexpr int kMaxTensors = 36;
constexpr int kMaxBlocks = 320;
constexpr int64_t kChunk = 65536;  // elements per block
constexpr int kThreads = 512;

template <typename T>
struct Table {
  T* param[kMaxTensors];
  const T* grad[kMaxTensors];
  float* exp_avg[kMaxTensors];
  float* exp_avg_sq[kMaxTensors];
  int64_t n[kMaxTensors];
  int chunk[kMaxBlocks];
  unsigned char tensor[kMaxBlocks];
};
static_assert(sizeof(Table<float>) + sizeof(AdamCoefficients) + 2 * sizeof(void*) <= 4096,
              "kernel arguments over 4 KiB");

// The update of trainer/fused_adam_cpu.cc, operation for operation: the _rn intrinsics keep nvcc
// from contracting a multiply and an add into one fused multiply-add, which rounds once where the
// CPU rounds twice, so CUDA and CPU agree bit for bit.
template <typename T>
__global__ void __launch_bounds__(kThreads)
    AdamKernel(Table<T> table, AdamCoefficients c, const float* __restrict__ grad_scale,
               const float* __restrict__ found_inf) {
  if (*found_inf != 0.0f) return;
  const float scale = *grad_scale;
  const int t = table.tensor[blockIdx.x];
  const int64_t begin = static_cast<int64_t>(table.chunk[blockIdx.x]) * kChunk;
  const int64_t end = begin + kChunk < table.n[t] ? begin + kChunk : table.n[t];
  T* __restrict__ p = table.param[t];
  const T* __restrict__ g = table.grad[t];
  float* __restrict__ m = table.exp_avg[t];
  float* __restrict__ v = table.exp_avg_sq[t];
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float pi = __fmul_rn(ToFloat(p[i]), c.decay);
    const float gi = __fadd_rn(__fmul_rn(ToFloat(g[i]), scale), __fmul_rn(c.l2, pi));
    const float mi = __fadd_rn(__fmul_rn(c.beta1, m[i]), __fmul_rn(c.one_minus_beta1, gi));
    const float vi =
        __fadd_rn(__fmul_rn(c.beta2, v[i]), __fmul_rn(__fmul_rn(c.one_minus_beta2, gi), gi));
    m[i] = mi;
    v[i] = vi;
    const float update = c.adaptive
                             ? __fdiv_rn(__fmul_rn(c.step, mi),
                                         __fadd_rn(__fsqrt_rn(__fmul_rn(vi, c.inv_bias2)), c.eps))
                             : __fmul_rn(c.step, mi);
    p[i] = FromFloat<T>(__fsub_rn(pi, update));
  }
}

// Launches over the tensors of one element type, filling tables in order; a tensor whose chunks
// do not all fit in one launch continues at the first slot of the next.
template <typename T>
cudaError_t LaunchType(const AdamTensor* tensors, int64_t count, DType type,
                       const AdamCoefficients& c, const float* grad_scale, const float* found_inf,
                       cudaStream_t stream) {
  Table<T> table;
  int used_tensors = 0, used_blocks = 0;
  for (int64_t i = 0; i < count; ++i) {
    const AdamTensor& a = tensors[i];
    if (a.type != type || a.n == 0) continue;
    int slot = used_tensors++;
    table.param[slot] = static_cast<T*>(a.param);
    table.grad[slot] = static_cast<const T*>(a.grad);
    table.exp_avg[slot] = a.exp_avg;
    table.exp_avg_sq[slot] = a.exp_avg_sq;
    table.n[slot] = a.n;
    const int64_t chunks = (a.n + kChunk - 1) / kChunk;
    for (int64_t chunk = 0; chunk < chunks; ++chunk) {
      table.tensor[used_blocks] = static_cast<unsigned char>(slot);
      table.chunk[used_blocks] = static_cast<int>(chunk);
      ++used_blocks;
      const bool last_chunk = chunk == chunks - 1;
      if (used_blocks < kMaxBlocks && !(used_tensors == kMaxTensors && last_chunk)) continue;
      AdamKernel<T><<<used_blocks, kThreads, 0, stream>>>(table, c, grad_scale, found_inf);
      const cudaError_t error = cudaGetLastError();
      if (error != cudaSuccess) return error;
      used_blocks = 0;
      used_tensors = 0;
      if (!last_chunk) {  // the rest of this tensor goes on in slot 0 of the next table
        table.param[0] = table.param[slot];
        table.grad[0] = table.grad[slot];
        table.exp_avg[0] = table.exp_avg[slot];
        table.exp_avg_sq[0] = table.exp_avg_sq[slot];
        table.n[0] = table.n[slot];
        slot = 0;
        used_tensors = 1;
      }
    }
  }
  if (used_blocks > 0) {
    AdamKernel<T><<<used_blocks, kThreads, 0, stream>>>(table, c, grad_scale, found_inf);
    return cudaGetLastError();
  }
  return cudaSuccess;
}

}  // namespace

cudaError_t MultiTensorAdam(const AdamTensor* tensors, int64_t count, const AdamCoefficients& c,
                            const float* grad_scale, const float* found_inf, cudaStream_t stream) {
  for (int64_t i = 0; i < count; ++i)
    if (tensors[i].n < 0 || (tensors[i].n + kChunk - 1) / kChunk > 0x7fffffff)
      return cudaErrorInvalidValue;
  const cudaError_t error =
      LaunchType<float>(tensors, count, DType::kFloat32, c, grad_scale, found_inf, stream);
  if (error != cudaSuccess) return error;
  return LaunchType<__nv_bfloat16>(tensors, count, DType::kBFloat16, c, grad_scale, found_inf,
                                   stream);
}

}  // namespace fathom::kernels::cuda
