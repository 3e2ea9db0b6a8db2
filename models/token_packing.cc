#include "models/token_packing.h"

#include <vector>

namespace fathom::models {
namespace {

std::vector<int64_t> Trailing(const torch::Tensor& x, int64_t from) {
  return std::vector<int64_t>(x.sizes().begin() + from, x.sizes().end());
}

void CheckMask(const torch::Tensor& padding) {
  TORCH_CHECK(padding.dim() == 2 && padding.scalar_type() == torch::kBool,
              "TokenPacking: padding must be a [B, T] bool mask, got ", padding.sizes(), " ",
              padding.scalar_type());
}

}  // namespace

TokenPacking::TokenPacking(const torch::Tensor& padding) : padding_(padding) {
  CheckMask(padding);
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

TokenPacking TokenPacking::Padded(const torch::Tensor& padding, bool right_aligned) {
  CheckMask(padding);
  TokenPacking layout;
  layout.padding_ = padding;
  layout.real_ = -1;
  layout.right_aligned_ = right_aligned;
  layout.padded_ = true;
  layout.masks_ = std::make_shared<Masks>();
  return layout;
}

const torch::Tensor& TokenPacking::SelfAttentionMask(bool causal, bool visible) const {
  TORCH_CHECK(padded_, "TokenPacking::SelfAttentionMask: the packed layout has no such mask");
  torch::Tensor& blocked = masks_->blocked[causal];
  if (!blocked.defined()) {
    const int64_t T = length();
    const torch::Tensor ones =
        torch::ones({T, T}, torch::TensorOptions(torch::kBool).device(padding_.device()));
    torch::Tensor keys = padding_.view({batch(), 1, 1, T});
    if (causal) keys = keys.logical_or(ones.triu(1));
    blocked = keys.logical_and(ones.tril(0).triu(0).logical_not());
  }
  if (!visible) return blocked;
  torch::Tensor& seen = masks_->visible[causal];
  if (!seen.defined()) seen = blocked.logical_not();
  return seen;
}

TokenPacking LayoutFor(proto::ModelConfig::TokenLayout layout, const torch::Tensor& padding,
                       bool profiling, bool right_aligned) {
  bool packed = true;
  if (!profiling) {
    packed = layout == proto::ModelConfig::PACKED ||
             (layout == proto::ModelConfig::TOKEN_LAYOUT_AUTO && !padding.is_cuda());
  }
  return packed ? TokenPacking(padding) : TokenPacking::Padded(padding, right_aligned);
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
