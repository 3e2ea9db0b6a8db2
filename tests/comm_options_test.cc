// CommOptions::FromProto: every backend of the config maps to its communicator backend, and the
// device choice decides whether tensors to communicate are on GPUs.
#include "comm/comm_options.h"

#include <gtest/gtest.h>

namespace fathom::comm {
namespace {

TEST(CommOptionsTest, EveryConfiguredBackendMapsToItsOwn) {
  proto::DistributedConfig distributed;
  EXPECT_EQ(CommOptions::FromProto(distributed).backend, Backend::kAuto);  // the default
  distributed.set_backend(proto::DistributedConfig::MPI);
  EXPECT_EQ(CommOptions::FromProto(distributed).backend, Backend::kMpi);
  distributed.set_backend(proto::DistributedConfig::NCCL);
  EXPECT_EQ(CommOptions::FromProto(distributed).backend, Backend::kNccl);
  distributed.set_backend(proto::DistributedConfig::AUTO);
  EXPECT_EQ(CommOptions::FromProto(distributed).backend, Backend::kAuto);
}

TEST(CommOptionsTest, DeviceDecidesWhetherTensorsAreOnGpus) {
  proto::DistributedConfig distributed;
  EXPECT_EQ(CommOptions::FromProto(distributed).device, "auto");
  EXPECT_TRUE(CommOptions::FromProto(distributed).cuda(/*cuda_available=*/true));
  EXPECT_FALSE(CommOptions::FromProto(distributed).cuda(/*cuda_available=*/false));
  distributed.set_device("cpu");
  EXPECT_FALSE(CommOptions::FromProto(distributed).cuda(true));
  distributed.set_device("cuda");
  // Asked for explicitly, CUDA is what the communicator must serve (and fails without a GPU).
  EXPECT_TRUE(CommOptions::FromProto(distributed).cuda(false));
}

}  // namespace
}  // namespace fathom::comm
