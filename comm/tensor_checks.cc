#include "comm/tensor_checks.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fathom::comm {

std::string RankLabel(int rank, int size, absl::string_view host) {
  return absl::StrCat("rank ", rank, " of ", size, " (", host, ")");
}

namespace {

// PyTorch's Python names, which the people reading these errors know.
std::string DtypeName(torch::ScalarType type) {
  switch (type) {
    case torch::kFloat:
      return "float32";
    case torch::kDouble:
      return "float64";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kHalf:
      return "float16";
    case torch::kInt:
      return "int32";
    case torch::kLong:
      return "int64";
    case torch::kShort:
      return "int16";
    case torch::kChar:
      return "int8";
    case torch::kByte:
      return "uint8";
    case torch::kBool:
      return "bool";
    default:
      return c10::toString(type);
  }
}

}  // namespace

std::string DescribeTensor(const torch::Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return absl::StrCat(DtypeName(t.scalar_type()), "[", absl::StrJoin(t.sizes(), ", "), "]");
}

absl::Status CheckTensor(const torch::Tensor& t, absl::string_view operation,
                         absl::string_view where, bool cpu_only) {
  if (!t.defined()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", operation, ": undefined tensor"));
  }
  if (cpu_only && !t.device().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", operation, ": ", DescribeTensor(t),
                                                   " is on ", t.device().str(),
                                                   "; this backend moves CPU tensors only"));
  }
  if (!t.is_contiguous()) {
    // Reducing a temporary copy would silently leave the caller's tensor unchanged.
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", operation, ": ", DescribeTensor(t), " is not contiguous (strides [",
        absl::StrJoin(t.strides(), ", "), "]); pass t.contiguous() and copy the result back"));
  }
  return absl::OkStatus();
}

absl::Status CheckReducibleDtype(const torch::Tensor& t, absl::string_view operation,
                                 absl::string_view where) {
  switch (t.scalar_type()) {
    case torch::kFloat:
    case torch::kDouble:
    case torch::kBFloat16:
    case torch::kHalf:
    case torch::kInt:
    case torch::kLong:
      return absl::OkStatus();
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", operation, ": cannot reduce ", DescribeTensor(t),
                       "; supported dtypes: float32, float64, bfloat16, float16, int32, int64"));
  }
}

absl::Status CheckRoot(int root, int size, absl::string_view operation, absl::string_view where) {
  if (root < 0 || root >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": ", operation, ": root ", root, " is not a rank in [0, ", size, ")"));
  }
  return absl::OkStatus();
}

std::string HostName() {
  char name[256] = {0};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

}  // namespace fathom::comm
