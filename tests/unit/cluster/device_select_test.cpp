#include "cluster/device_select.h"

#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "tests/support/expect_error.h"

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

TEST(DeviceSelect, RequestOfTheCommandLine) {
  EXPECT_EQ(device_for_request("auto", 3, 2, 3, "--device"), c10::Device(c10::kCUDA, 1));
  EXPECT_EQ(device_for_request("auto", 3, 0, 3, "--device"), c10::Device(c10::kCPU));
  EXPECT_EQ(device_for_request("cpu", 3, 2, 3, "--device"), c10::Device(c10::kCPU));
  EXPECT_EQ(device_for_request("cuda", 0, 1, 5, "--device"), c10::Device(c10::kCUDA, 0));
  test::expect_error([] { device_for_request("cuda", 0, 0, 5, "--device"); },
                     {"--device is 'cuda' but no CUDA device is available to rank 5"});
  test::expect_error([] { device_for_request("gpu", 0, 1, 0, "config key 'distributed.device'"); },
                     {"config key 'distributed.device' is 'gpu'", "auto, cpu or cuda"});
}

}  // namespace
}  // namespace fq::cluster
