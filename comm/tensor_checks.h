// Argument checks shared by every backend, so a 1-rank run rejects what a many-rank run would.
#ifndef FATHOM_COMM_TENSOR_CHECKS_H_
#define FATHOM_COMM_TENSOR_CHECKS_H_

#include <torch/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fathom::comm {

// "rank 1 of 2 (host)": the prefix of every communicator error.
std::string RankLabel(int rank, int size, absl::string_view host);

// "float32[4, 3]".
std::string DescribeTensor(const torch::Tensor& t);

// The tensor is defined and contiguous, and (when `cpu_only`) lives on the CPU.
// `where` is the RankLabel; `operation` the public name ("AllReduce").
absl::Status CheckTensor(const torch::Tensor& t, absl::string_view operation,
                         absl::string_view where, bool cpu_only);

// The dtype can be reduced: float32, float64, bfloat16, float16, int32, int64.
absl::Status CheckReducibleDtype(const torch::Tensor& t, absl::string_view operation,
                                 absl::string_view where);

absl::Status CheckRoot(int root, int size, absl::string_view operation, absl::string_view where);

// Local host name, for error messages and Describe().
std::string HostName();

}  // namespace fathom::comm

#endif  // FATHOM_COMM_TENSOR_CHECKS_H_
