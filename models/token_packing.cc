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
  torch::Tensor index = padding.reshape({-1}).logical_not().nonzero().squeeze(1);
  real_ = index.size(0);
  // A batch without padding keeps its layout: packing is then a free reshape.
  if (real_ != padding.numel()) index_ = index;
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
