#include "comm/comm_options.h"

namespace fathom::comm {

CommOptions CommOptions::FromProto(const proto::DistributedConfig& distributed) {
  CommOptions options;
  switch (distributed.backend()) {
    case proto::DistributedConfig::MPI:
      options.backend = Backend::kMpi;
      break;
    case proto::DistributedConfig::NCCL:
      options.backend = Backend::kNccl;
      break;
    case proto::DistributedConfig::AUTO:
      options.backend = Backend::kAuto;
      break;
  }
  options.device = distributed.device();
  return options;
}

bool CommOptions::cuda(bool cuda_available) const {
  return device == "cuda" || (device == "auto" && cuda_available);
}

}  // namespace fathom::comm
