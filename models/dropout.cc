#include "models/dropout.h"

#include <ATen/Parallel.h>

#include <cstdint>

#include "base/mix64.h"

namespace fathom::models {
namespace {

// The keep-mask scaled by 1 / (1 - p), as float: 0 or scale.
torch::Tensor ScaledMask(int64_t numel, double p, uint64_t seed,
                         const torch::TensorOptions& options) {
  torch::Tensor mask = torch::empty({numel}, options.dtype(torch::kFloat).device(torch::kCPU));
  float* out = mask.data_ptr<float>();
  const uint32_t threshold =
      static_cast<uint32_t>(p * 65536.0 + 0.5);  // drop when 16 bits < threshold
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  // Four 16-bit draws per hash; blocks of 4 elements keep the mapping independent of threads.
  const int64_t blocks = (numel + 3) / 4;
  at::parallel_for(0, blocks, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const uint64_t bits = Mix64(seed ^ (static_cast<uint64_t>(b) * 0xD1B54A32D192ED03ull));
      const int64_t base = 4 * b;
      const int64_t count = std::min<int64_t>(4, numel - base);
      for (int64_t k = 0; k < count; ++k) {
        const uint32_t draw = static_cast<uint32_t>((bits >> (16 * k)) & 0xFFFF);
        out[base + k] = draw < threshold ? 0.0f : scale;
      }
    }
  });
  return mask;
}

}  // namespace

torch::Tensor Dropout(const torch::Tensor& x, double p, bool training) {
  if (!training || p <= 0.0) return x;
  if (p >= 1.0) return x * 0;
  if (!x.device().is_cpu()) return torch::dropout(x, p, true);  // GPU generators are fast
  const uint64_t seed = static_cast<uint64_t>(
      torch::randint(std::numeric_limits<int64_t>::max(), {1}, torch::kLong).item<int64_t>());
  torch::Tensor mask =
      ScaledMask(x.numel(), p, seed, x.options()).view(x.sizes()).to(x.scalar_type());
  // A product with a constant mask: autograd's backward is grad * mask, nothing to write.
  return x * mask;
}

}  // namespace fathom::models
