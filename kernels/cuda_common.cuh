// Device helpers shared by the .cu files: float32 loads and stores of float and bfloat16, and
// block-wide sums. nvcc only; no LibTorch.
#ifndef FATHOM_KERNELS_CUDA_COMMON_CUH_
#define FATHOM_KERNELS_CUDA_COMMON_CUH_

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>

namespace fathom::kernels::cuda {

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T FromFloat(float v);
template <>
__device__ __forceinline__ float FromFloat<float>(float v) {
  return v;
}
// Round to nearest even, as c10::BFloat16 does on the CPU.
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Sum of `v` over the block, returned to every thread. blockDim.x must be a multiple of 32;
// `scratch` holds 32 floats of shared memory and may be reused once this returns.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  v = WarpSum(v);
  __syncthreads();  // the previous use of scratch is finished
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  return WarpSum(v);
}

// Two sums at once (one pair of barriers); `scratch` holds 64 floats.
__device__ __forceinline__ float2 BlockSum2(float2 v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  v.x = WarpSum(v.x);
  v.y = WarpSum(v.y);
  __syncthreads();
  if (lane == 0) {
    scratch[warp] = v.x;
    scratch[32 + warp] = v.y;
  }
  __syncthreads();
  v.x = lane < warps ? scratch[lane] : 0.0f;
  v.y = lane < warps ? scratch[32 + lane] : 0.0f;
  v.x = WarpSum(v.x);
  v.y = WarpSum(v.y);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Maximum of `v` over the block (as BlockSum; NaN is passed over by fmaxf).
__device__ __forceinline__ float BlockMax(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  v = WarpMax(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : -INFINITY;
  return WarpMax(v);
}

// Calls fn(Tag<float>) or fn(Tag<__nv_bfloat16>), for launchers that take a DType.
template <typename T>
struct Tag {
  using type = T;
};
template <typename Fn>
cudaError_t WithType(bool bfloat16, Fn&& fn) {
  if (bfloat16) return fn(Tag<__nv_bfloat16>{});
  return fn(Tag<float>{});
}

inline int RoundUp32(long long n) { return static_cast<int>((n + 31) / 32 * 32); }

}  // namespace fathom::kernels::cuda

#endif  // FATHOM_KERNELS_CUDA_COMMON_CUH_
