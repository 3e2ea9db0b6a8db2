#include "models/token_packing.h"

#include <vector>

namespace fathom::models {
namespace {

std::vector<int64_t> Trailing(const torch::Tensor& x, int64_t from) {
  return std::vector<int64_t>(x.sizes().begin() + from, x.sizes().end());
}

}  // namespace

TokenPacking::TokenPacking(const torch::Tensor& padding) : padding_(padding) {
  TORCH_CHECK(padding.dim() == 2 && padding.scalar_type() == torch::kBool,
              "TokenPacking: padding must be a [B, T] bool mask, got ", padding.sizes(), " ",
              padding.scalar_type());
  const torch::Tensor host = padding.to(torch::kCPU).contiguous();
  const bool* pad = host.data_ptr<bool>();
  const int64_t rows = host.size(0), columns = host.size(1);
  std::vector<int64_t> index;
  index.reserve(host.numel());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < columns; ++c) {
      const int64_t at = r * columns + c;
      if (!pad[at]) {
        index.push_back(at);
        if (c > 0 && pad[at - 1]) right_aligned_ = false;
      }
    }
  }
  real_ = static_cast<int64_t>(index.size());
  // A batch without padding keeps its layout: packing is then a free reshape.
  if (real_ != host.numel()) {
    index_ = torch::tensor(index, torch::kLong).to(padding.device(), /*non_blocking=*/true);
  }
}

torch::Tensor TokenPacking::Pack(const torch::Tensor& x) const {
  std::vector<int64_t> shape{batch() * length()};
  for (int64_t s : Trailing(x, 2)) shape.push_back(s);
  torch::Tensor flat = x.reshape(shape);
  return index_.defined() ? flat.index_select(0, index_) : flat;
}

torch::Tensor TokenPacking::Unpack(const torch::Tensor& x) const {
  std::vector<int64_t> shape{batch(), length()};
  for (int64_t s : Trailing(x, 1)) shape.push_back(s);
  if (!index_.defined()) return x.reshape(shape);
  std::vector<int64_t> flat_shape{batch() * length()};
  for (int64_t s : Trailing(x, 1)) flat_shape.push_back(s);
  return torch::zeros(flat_shape, x.options()).index_copy(0, index_, x).view(shape);
}

}  // namespace fathom::models
