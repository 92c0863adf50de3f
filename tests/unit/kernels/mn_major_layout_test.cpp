// The shared-memory layout of the wgmma transform + quantize kernel, checked on the host: every 16-byte
// chunk of a matrix has its own place inside the buffer and stays in its swizzle atom (8 lines), and the
// descriptor carries the distances the hardware is told. Whether the hardware reads the layout as meant is
// the GPU test's part (tests/gpu/kernels_quant_gpu_test.cpp).
#include "kernels/mn_major_layout.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace fq::kernels {
namespace {

TEST(MnMajorLayout, SwizzleIsTheWidestThatDividesARow) {
  EXPECT_EQ(mn_major_swizzle_bytes(128), 128);  // 256-byte rows
  EXPECT_EQ(mn_major_swizzle_bytes(64), 128);
  EXPECT_EQ(mn_major_swizzle_bytes(224), 64);  // 448 = 7 x 64
  EXPECT_EQ(mn_major_swizzle_bytes(96), 64);
  EXPECT_EQ(mn_major_swizzle_bytes(112), 32);  // 224 = 7 x 32
  EXPECT_EQ(mn_major_swizzle_bytes(144), 32);
  EXPECT_EQ(mn_major_swizzle_bytes(16), 32);
}

TEST(MnMajorLayout, EveryChunkHasItsOwnPlaceInsideItsAtom) {
  for (int n2p = 16; n2p <= 224; n2p += 16) {
    for (int rows_p : {16, 64, 128, n2p}) {
      const MnMajor l{mn_major_swizzle_bytes(n2p), rows_p};
      const std::string what = "n2p=" + std::to_string(n2p) + " rows_p=" + std::to_string(rows_p);
      ASSERT_EQ(l.bytes(n2p), 2 * rows_p * n2p) << what << ": no padding";
      std::set<int> seen;
      for (int r = 0; r < rows_p; ++r) {
        for (int c = 0; c < n2p; c += 8) {
          const int at = l.chunk_offset(r, c);
          ASSERT_EQ(at % 16, 0) << what;
          ASSERT_GE(at, 0) << what;
          ASSERT_LT(at, l.bytes(n2p)) << what;
          ASSERT_TRUE(seen.insert(at).second) << what << ": chunk (" << r << ", " << c << ") collides";
          // Unswizzled place: column block, line, chunk within the line. The XOR moves a chunk only within
          // its line, and only by the line's index within its group of 8.
          const int block = c / (l.swizzle / 2);
          const int line_start = block * l.block_bytes() + r * l.swizzle;
          EXPECT_EQ(at / l.swizzle, line_start / l.swizzle) << what << ": chunk left its line";
          EXPECT_EQ((at - line_start) / 16, ((c % (l.swizzle / 2)) / 8) ^ ((line_start >> 7) & (l.swizzle / 16 - 1)))
              << what;
        }
      }
    }
  }
}

TEST(MnMajorLayout, DescriptorCarriesAddressDistancesAndSwizzle) {
  const MnMajor l{64, 128};  // down_proj's X: 128 rows, 64-byte lines
  const uint32_t addr = 0x12400;
  const uint64_t d = l.descriptor(addr);
  EXPECT_EQ(d & 0x3FFF, addr >> 4);
  EXPECT_EQ((d >> 16) & 0x3FFF, static_cast<uint64_t>(128 * 64 / 16));  // leading: one column block
  EXPECT_EQ((d >> 32) & 0x3FFF, static_cast<uint64_t>(8 * 64 / 16));    // stride: 8 lines
  EXPECT_EQ(d >> 62, 2u);                                               // 64-byte swizzle
  EXPECT_EQ((MnMajor{128, 64}.descriptor(0) >> 62), 1u);
  EXPECT_EQ((MnMajor{32, 64}.descriptor(0) >> 62), 3u);
  EXPECT_EQ((d >> 46) & 0xFFFF, 0u) << "base offset and reserved bits stay zero";
}

}  // namespace
}  // namespace fq::kernels
