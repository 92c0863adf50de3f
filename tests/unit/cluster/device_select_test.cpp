#include "cluster/device_select.h"

#include <gtest/gtest.h>

#include "lib/core/error.h"

namespace fq::cluster {
namespace {

TEST(DeviceSelect, RanksOfANodeSpreadOverItsGpus) {
  EXPECT_EQ(device_for_local_rank(0, 8), c10::Device(c10::kCUDA, 0));
  EXPECT_EQ(device_for_local_rank(7, 8), c10::Device(c10::kCUDA, 7));
  EXPECT_EQ(device_for_local_rank(9, 8), c10::Device(c10::kCUDA, 1));  // more ranks than GPUs share them
  EXPECT_EQ(device_for_local_rank(3, 1), c10::Device(c10::kCUDA, 0));  // one visible GPU per task
}

TEST(DeviceSelect, NoGpuMeansCpu) {
  EXPECT_EQ(device_for_local_rank(0, 0), c10::Device(c10::kCPU));
  EXPECT_EQ(device_for_local_rank(5, 0), c10::Device(c10::kCPU));
  EXPECT_THROW(device_for_local_rank(-1, 2), Error);
}

}  // namespace
}  // namespace fq::cluster
