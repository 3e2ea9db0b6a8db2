// CUDA kernels of y = LayerNorm(omega * x + f) * gamma + beta (kernels/residual_layer_norm.h):
// one block per row in forward, with the row kept in registers (two passes for the variance);
// in backward a fixed grid of blocks strides over the rows, keeps its column sums for gamma, beta
// and omega in registers and writes them once, and a second kernel adds them up in block order.
#include <cuda_bf16.h>

#include "kernels/cuda_common.cuh"
#include "kernels/cuda_launch.h"

namespace fathom::kernels::cuda {
namespace {

// Elements of a row per thread, kept in registers; with at most 512 threads per row (so up to
// 128 registers per thread, no spills) this bounds d by kMaxLayerNormWidth.
constexpr int kPerThread = 8;
constexpr int kMaxThreads = 512;
static_assert(kPerThread * kMaxThreads == kMaxLayerNormWidth);

// Threads per row: up to kPerThread elements each, a multiple of 32 (d <= kMaxLayerNormWidth).
int ThreadsFor(int64_t d) { return RoundUp32((d + kPerThread - 1) / kPerThread); }

template <typename TX, typename TF, typename TY>
__global__ void __launch_bounds__(kMaxThreads)
    ForwardKernel(const TX* __restrict__ x, const TF* __restrict__ f,
                  const float* __restrict__ omega, const float* __restrict__ gamma,
                  const float* __restrict__ beta, TY* __restrict__ y, float* __restrict__ mean_out,
                  float* __restrict__ rstd_out, int64_t d, float eps) {
  __shared__ float scratch[32];
  const int64_t offset = static_cast<int64_t>(blockIdx.x) * d;
  float s[kPerThread];
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int64_t j = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    s[k] = 0.0f;
    if (j < d) {
      const float w = omega != nullptr ? omega[j] : 1.0f;
      s[k] = ToFloat(x[offset + j]) * w + ToFloat(f[offset + j]);
      sum += s[k];
    }
  }
  const float inv_d = 1.0f / static_cast<float>(d);
  const float mean = BlockSum(sum, scratch) * inv_d;
  float squares = 0.0f;
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int64_t j = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (j < d) {
      const float c = s[k] - mean;
      squares += c * c;
    }
  }
  const float rstd = rsqrtf(BlockSum(squares, scratch) * inv_d + eps);
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int64_t j = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (j < d) y[offset + j] = FromFloat<TY>((s[k] - mean) * rstd * gamma[j] + beta[j]);
  }
  if (threadIdx.x == 0) {
    mean_out[blockIdx.x] = mean;
    rstd_out[blockIdx.x] = rstd;
  }
}

// With xhat = (s - mean) * rstd and g = dy * gamma:
//   ds = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dx = omega * ds,  df = ds,
//   dgamma = sum over rows of dy * xhat,  dbeta = sum of dy,  domega = sum of ds * x.
template <typename TY, typename TX, typename TF>
__global__ void __launch_bounds__(kMaxThreads)
    BackwardKernel(const TY* __restrict__ dy, const TX* __restrict__ x, const TF* __restrict__ f,
                   const float* __restrict__ omega, const float* __restrict__ gamma,
                   const float* __restrict__ mean, const float* __restrict__ rstd,
                   TX* __restrict__ dx, TF* __restrict__ df, float* __restrict__ partials,
                   int64_t rows, int64_t d) {
  __shared__ float scratch[64];
  float w[kPerThread], gam[kPerThread];
  float sum_gamma[kPerThread], sum_beta[kPerThread], sum_omega[kPerThread];
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int64_t j = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    w[k] = (omega != nullptr && j < d) ? omega[j] : 1.0f;
    gam[k] = j < d ? gamma[j] : 0.0f;
    sum_gamma[k] = sum_beta[k] = sum_omega[k] = 0.0f;
  }
  const float inv_d = 1.0f / static_cast<float>(d);
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const int64_t offset = row * d;
    const float mu = mean[row], rs = rstd[row];
    float xv[kPerThread], xhat[kPerThread], g[kPerThread];
    float2 sums = make_float2(0.0f, 0.0f);
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int64_t j = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
      xv[k] = xhat[k] = g[k] = 0.0f;
      if (j < d) {
        xv[k] = ToFloat(x[offset + j]);
        xhat[k] = (xv[k] * w[k] + ToFloat(f[offset + j]) - mu) * rs;
        const float dyv = ToFloat(dy[offset + j]);
        g[k] = dyv * gam[k];
        sums.x += g[k];
        sums.y += g[k] * xhat[k];
        sum_gamma[k] += dyv * xhat[k];
        sum_beta[k] += dyv;
      }
    }
    sums = BlockSum2(sums, scratch);
    const float mean_g = sums.x * inv_d, mean_gx = sums.y * inv_d;
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      const int64_t j = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
      if (j < d) {
        const float ds = rs * (g[k] - mean_g - xhat[k] * mean_gx);
        df[offset + j] = FromFloat<TF>(ds);
        dx[offset + j] = FromFloat<TX>(ds * w[k]);
        sum_omega[k] += ds * xv[k];
      }
    }
  }
  float* out = partials + static_cast<int64_t>(blockIdx.x) * 3 * d;
#pragma unroll
  for (int k = 0; k < kPerThread; ++k) {
    const int64_t j = threadIdx.x + static_cast<int64_t>(k) * blockDim.x;
    if (j < d) {
      out[j] = sum_gamma[k];
      out[d + j] = sum_beta[k];
      out[2 * d + j] = sum_omega[k];
    }
  }
}

// Adds the blocks' column sums in block order (deterministic).
__global__ void ColumnSumsKernel(const float* __restrict__ partials, int blocks, int64_t d,
                                 float* __restrict__ dgamma, float* __restrict__ dbeta,
                                 float* __restrict__ domega) {
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= d) return;
  float g = 0.0f, b = 0.0f, o = 0.0f;
  for (int i = 0; i < blocks; ++i) {
    const float* p = partials + static_cast<int64_t>(i) * 3 * d;
    g += p[j];
    b += p[d + j];
    o += p[2 * d + j];
  }
  dgamma[j] = g;
  dbeta[j] = b;
  if (domega != nullptr) domega[j] = o;
}

}  // namespace

cudaError_t ResidualLayerNormForward(const ResidualLayerNormForwardArgs& a, cudaStream_t stream) {
  if (a.d <= 0 || a.d > kMaxLayerNormWidth || a.rows < 0 || a.rows > 0x7fffffff)
    return cudaErrorInvalidValue;
  if (a.rows == 0) return cudaSuccess;
  const int threads = ThreadsFor(a.d);
  return WithType(a.x_type == DType::kBFloat16, [&](auto tx) {
    using TX = typename decltype(tx)::type;
    return WithType(a.f_type == DType::kBFloat16, [&](auto tf) {
      using TF = typename decltype(tf)::type;
      return WithType(a.y_type == DType::kBFloat16, [&](auto ty) {
        using TY = typename decltype(ty)::type;
        ForwardKernel<TX, TF, TY><<<static_cast<unsigned>(a.rows), threads, 0, stream>>>(
            static_cast<const TX*>(a.x), static_cast<const TF*>(a.f), a.omega, a.gamma, a.beta,
            static_cast<TY*>(a.y), a.mean, a.rstd, a.d, a.eps);
        return cudaGetLastError();
      });
    });
  });
}

cudaError_t ResidualLayerNormBackward(const ResidualLayerNormBackwardArgs& a, cudaStream_t stream) {
  if (a.d <= 0 || a.d > kMaxLayerNormWidth || a.rows < 0 || a.blocks < 1)
    return cudaErrorInvalidValue;
  if (a.rows > 0) {
    const int threads = ThreadsFor(a.d);
    const cudaError_t error = WithType(a.dy_type == DType::kBFloat16, [&](auto ty) {
      using TY = typename decltype(ty)::type;
      return WithType(a.x_type == DType::kBFloat16, [&](auto tx) {
        using TX = typename decltype(tx)::type;
        return WithType(a.f_type == DType::kBFloat16, [&](auto tf) {
          using TF = typename decltype(tf)::type;
          BackwardKernel<TY, TX, TF><<<a.blocks, threads, 0, stream>>>(
              static_cast<const TY*>(a.dy), static_cast<const TX*>(a.x),
              static_cast<const TF*>(a.f), a.omega, a.gamma, a.mean, a.rstd, static_cast<TX*>(a.dx),
              static_cast<TF*>(a.df), a.partials, a.rows, a.d);
          return cudaGetLastError();
        });
      });
    });
    if (error != cudaSuccess) return error;
  } else {
    // No rows: every block's sums are zero.
    const cudaError_t error = cudaMemsetAsync(
        a.partials, 0, sizeof(float) * 3 * static_cast<size_t>(a.d) * a.blocks, stream);
    if (error != cudaSuccess) return error;
  }
  const int threads = 256;
  const unsigned grid = static_cast<unsigned>((a.d + threads - 1) / threads);
  ColumnSumsKernel<<<grid, threads, 0, stream>>>(a.partials, a.blocks, a.d, a.dgamma, a.dbeta,
                                                 a.omega != nullptr ? a.domega : nullptr);
  return cudaGetLastError();
}

}  // namespace fathom::kernels::cuda
