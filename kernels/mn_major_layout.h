// The shared-memory layout in which the wgmma transform + quantize kernel (cuda/kron_transform_quant_sm90.cu)
// keeps X and R: "MN-major" bf16 B operands of Hopper's warpgroup MMA, whose columns are contiguous as the
// rows arrive from global memory. Host and device compute it alike, so that the CPU tests can check the
// layout (every 16-byte chunk placed once, inside the buffer, inside its swizzle atom) and the descriptor.
//
// A [rows_p, cols_p] matrix is stored as column blocks of `swizzle` bytes (swizzle / 2 columns), each
// block holding all rows as lines of `swizzle` bytes, with the 16-byte chunks of a line XOR-ed by address
// bits 7.. (Swizzle<log2(swizzle / 16), 4, 3>; the buffer is 1024-byte aligned, so offsets and addresses
// agree on those bits). In the descriptor the leading byte offset is the distance between column blocks, the
// stride byte offset that between groups of 8 rows (CUTLASS's canonical MN-major GMMA layouts).
#pragma once

#include <cstdint>

#include "kernels/token_quant.h"  // FQ_HOST_DEVICE

namespace fq::kernels {

// The widest of 128, 64 and 32 bytes that divides a row of n2p bf16 (n2p % 16 == 0): nothing is padded.
FQ_HOST_DEVICE int mn_major_swizzle_bytes(int n2p) {
  const int line = 2 * n2p;
  return line % 128 == 0 ? 128 : (line % 64 == 0 ? 64 : 32);
}

struct MnMajor {
  int swizzle;  // bytes per line: 32, 64 or 128
  int rows_p;   // rows (the K dimension of the product), a multiple of 16

  FQ_HOST_DEVICE int block_bytes() const { return rows_p * swizzle; }  // leading byte offset
  FQ_HOST_DEVICE int group_bytes() const { return 8 * swizzle; }       // stride byte offset
  FQ_HOST_DEVICE int bytes(int cols_p) const { return 2 * cols_p / swizzle * block_bytes(); }

  // Byte offset of the 16-byte chunk holding elements (r, c .. c + 7), c % 8 == 0.
  // Byte offset of the 16-byte chunk holding elements (r, c .. c + 7), c % 8 == 0, as the sum of a part of
  // the column and a part of the row, so that a loop walking one column's rows computes the first once:
  // the XOR (bits 7.. of the offset into bits 4..) only sees bits of r * swizzle, since a column block is a
  // multiple of 512 bytes and a line's byte is below `swizzle`.
  FQ_HOST_DEVICE int chunk_offset(int r, int c) const { return column_offset(c) + row_offset(r, line_byte(c)); }
  FQ_HOST_DEVICE int column_offset(int c) const { return c / (swizzle / 2) * block_bytes(); }
  FQ_HOST_DEVICE int line_byte(int c) const { return c % (swizzle / 2) * 2; }
  FQ_HOST_DEVICE int row_offset(int r, int line_byte) const {
    const int line = r * swizzle;
    return line + (line_byte ^ (((line >> 7) & (swizzle / 16 - 1)) << 4));
  }

  // wgmma shared-memory descriptor of the matrix at shared address `addr` (1024-byte aligned, or a k-step's
  // start 16 * swizzle bytes further per k-step): address, leading and stride byte offsets in 16-byte units,
  // layout type 1/2/3 = 128/64/32-byte swizzle in bits 62-63.
  FQ_HOST_DEVICE uint64_t descriptor(uint32_t addr) const {
    const uint64_t type = swizzle == 128 ? 1 : (swizzle == 64 ? 2 : 3);
    return ((addr & 0x3FFFF) >> 4) | (static_cast<uint64_t>(block_bytes() >> 4) << 16) |
           (static_cast<uint64_t>(group_bytes() >> 4) << 32) | (type << 62);
  }
};

}  // namespace fq::kernels
