// distributed.* of proto/config.proto as the communication layer takes it: which backend moves
// tensors between ranks and which device a rank's tensors live on. The trainer's own uses of the
// section (collective deadlines per phase, threads, precision, buckets) stay with the trainer.
#ifndef FATHOM_COMM_COMM_OPTIONS_H_
#define FATHOM_COMM_COMM_OPTIONS_H_

#include <string>

#include "comm/communicator_factory.h"
#include "proto/config.pb.h"

namespace fathom::comm {

struct CommOptions {
  Backend backend = Backend::kAuto;
  // "cpu", "cuda" or "auto" (CUDA when a GPU is visible), as SelectDevice takes it.
  std::string device = "auto";

  static CommOptions FromProto(const proto::DistributedConfig& distributed);

  // Whether the tensors to communicate live on GPUs: "cuda", or "auto" with a GPU visible.
  // `cuda_available` is torch::cuda::is_available() outside tests.
  bool cuda(bool cuda_available) const;
};

}  // namespace fathom::comm

#endif  // FATHOM_COMM_COMM_OPTIONS_H_
