#include "kernels/int4_pack.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "tests/support/kernel_inputs.h"

namespace fq::kernels {
namespace {

TEST(Int4Pack, ElementTwoJInTheLowNibble) {
  const at::Tensor sym = at::tensor({1, -2, 7, -8}, at::kChar).unsqueeze(0);
  const at::Tensor packed = pack_int4(sym, true);
  ASSERT_EQ(packed.sizes(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(packed[0][0].item<uint8_t>(), 0xE1);  // -2 = 0xE high, 1 low
  EXPECT_EQ(packed[0][1].item<uint8_t>(), 0x87);  // -8 = 0x8 high, 7 low
  const at::Tensor asym = at::tensor({3, 12}, at::kChar).unsqueeze(0);
  EXPECT_EQ(pack_int4(asym, false)[0][0].item<uint8_t>(), 0xC3);
}

TEST(Int4Pack, RoundTripsEveryCode) {
  for (bool symmetric : {true, false}) {
    const at::Tensor codes = symmetric ? fq::test::random_codes({7, 3, 64}, -8, 7, 11)
                                       : fq::test::random_codes({7, 3, 64}, 0, 15, 12);
    const at::Tensor packed = pack_int4(codes, symmetric);
    EXPECT_EQ(packed.sizes(), (std::vector<int64_t>{7, 3, 32}));
    EXPECT_EQ(packed.scalar_type(), at::kByte);
    EXPECT_TRUE(at::equal(unpack_int4(packed, symmetric), codes)) << "symmetric=" << symmetric;
  }
}

TEST(Int4Pack, RejectsOddLengthsAndOutOfRangeCodes) {
  EXPECT_THROW(pack_int4(at::zeros({2, 3}, at::kChar), true), fq::Error);
  try {
    pack_int4(at::full({1, 2}, 8, at::kChar), true, "weight codes");
    FAIL() << "expected an error";
  } catch (const fq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight codes"), std::string::npos) << e.what();
  }
  EXPECT_THROW(pack_int4(at::full({1, 2}, -1, at::kChar), false), fq::Error);
  EXPECT_THROW(pack_int4(at::zeros({1, 2}, at::kFloat), true), fq::Error);
}

}  // namespace
}  // namespace fq::kernels
