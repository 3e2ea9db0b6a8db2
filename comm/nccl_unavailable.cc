// The NCCL backend's functions in a build without it (no CUDA LibTorch or no NCCL found): the
// choice is CMake's (cmake/FathomCuda.cmake), so no source carries an #ifdef for it.
#include "absl/strings/str_cat.h"
#include "comm/nccl_communicator.h"
#include "comm/tensor_checks.h"

namespace fathom::comm {

bool NcclBackendBuilt() { return false; }

absl::StatusOr<std::unique_ptr<Communicator>> CreateNcclCommunicator() {
  return absl::UnimplementedError(
      absl::StrCat(HostName(),
                   ": CreateNcclCommunicator: this build has no NCCL backend: configure against a "
                   "CUDA LibTorch with NCCL found (README: GPU build)"));
}

}  // namespace fathom::comm
