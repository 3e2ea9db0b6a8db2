// comm::SelectDevice: the config's device, the rank's place on its host and the visible GPUs.
#include "comm/device_selection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fathom::comm {
namespace {

using ::testing::HasSubstr;

TEST(SelectDeviceTest, CpuWhenAskedOrWhenAutoFindsNoGpu) {
  for (int gpus : {0, 1, 8}) {
    auto cpu = SelectDevice("cpu", 1, 2, gpus);
    ASSERT_TRUE(cpu.ok()) << cpu.status();
    EXPECT_TRUE(cpu->is_cpu());
  }
  auto automatic = SelectDevice("auto", 0, 1, 0);
  ASSERT_TRUE(automatic.ok()) << automatic.status();
  EXPECT_TRUE(automatic->is_cpu());
}

TEST(SelectDeviceTest, OneGpuPerLocalRank) {
  for (const char* requested : {"cuda", "auto"}) {
    for (int local_rank = 0; local_rank < 4; ++local_rank) {
      auto device = SelectDevice(requested, local_rank, 4, 4);
      ASSERT_TRUE(device.ok()) << device.status();
      EXPECT_EQ(*device, torch::Device(torch::kCUDA, local_rank)) << requested;
    }
  }
  // More GPUs than ranks: the first local_size of them.
  auto device = SelectDevice("cuda", 1, 2, 8);
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(device->index(), 1);
}

TEST(SelectDeviceTest, ARankThatSeesOneGpuUsesIt) {
  // srun --gpus-per-task=1 or a CUDA_VISIBLE_DEVICES per rank: each rank's only GPU is device 0.
  for (int local_rank = 0; local_rank < 4; ++local_rank) {
    auto device = SelectDevice("cuda", local_rank, 4, 1);
    ASSERT_TRUE(device.ok()) << device.status();
    EXPECT_EQ(*device, torch::Device(torch::kCUDA, 0));
  }
}

TEST(SelectDeviceTest, RefusesToShareGpusBetweenRanks) {
  auto device = SelectDevice("cuda", 3, 4, 2);
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(device.status().message(), HasSubstr("local rank 3 of 4 sees 2 GPUs"));
  // auto does not fall back to the CPU when GPUs are there but too few: that would hide a
  // launch mistake behind a run 50 times slower.
  EXPECT_FALSE(SelectDevice("auto", 3, 4, 2).ok());
}

TEST(SelectDeviceTest, CudaWithoutGpuAndBadArgumentsAreErrors) {
  auto none = SelectDevice("cuda", 0, 1, 0);
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("no GPU is visible"));

  auto unknown = SelectDevice("gpu", 0, 1, 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.status().message(),
              HasSubstr("distributed.device: must be auto, cpu or cuda"));

  EXPECT_FALSE(SelectDevice("cpu", 2, 2, 0).ok());
  EXPECT_FALSE(SelectDevice("cpu", -1, 2, 0).ok());
  EXPECT_FALSE(SelectDevice("cpu", 0, 0, 0).ok());
}

}  // namespace
}  // namespace fathom::comm
