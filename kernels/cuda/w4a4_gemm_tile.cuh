// Pieces shared by the W4A4 GEMM kernels: locating a CTA's row tile among the experts and the exact
// epilogue. Included by .cu files only.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>

#include "kernels/cuda/w4a4_gemm.cuh"

namespace fq::kernels::gpu {

// Rows [row0, row_end) of expert `expert` that one CTA's tile starts at.
struct RowTile {
  int expert;
  int64_t row0;
  int64_t row_end;
};

// Tile `tile` of the row tiles of all experts in order (each expert's rows split into ceil(rows / kBM)
// tiles). Every warp of the CTA computes the same answer with a warp-wide scan over the offsets, so the
// grid can be sized by the upper bound ceil(M / kBM) + E without reading the offsets on the host. Returns
// false for tiles past the last one. Offsets are clamped to [0, M] so that bad offsets cannot reach
// memory outside the operands.
template <int kBM>
__device__ __forceinline__ bool locate_row_tile(const W4A4GemmArgs& args, int64_t tile, RowTile* out) {
  if (args.expert_offsets == nullptr) {
    *out = RowTile{0, tile * kBM, args.m};
    return tile * kBM < args.m;
  }
  const int lane = threadIdx.x % 32;
  const int64_t* off = args.expert_offsets;
  auto clamp_row = [&](int64_t v, int64_t lo) { return v < lo ? lo : (v > args.m ? args.m : v); };
  int64_t before = 0;
  for (int64_t base = 0; base < args.experts; base += 32) {
    const int64_t e = base + lane;
    int64_t count = 0;
    if (e < args.experts) {
      const int64_t begin = clamp_row(off[e], 0);
      count = (clamp_row(off[e + 1], begin) - begin + kBM - 1) / kBM;
    }
    int64_t inclusive = count;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int64_t v = __shfl_up_sync(0xffffffffu, inclusive, o);
      if (lane >= o) inclusive += v;
    }
    const int64_t total = __shfl_sync(0xffffffffu, inclusive, 31);
    if (tile < before + total) {
      const unsigned owners = __ballot_sync(0xffffffffu, tile < before + inclusive);
      const int owner = __ffs(owners) - 1;
      const int64_t exclusive = __shfl_sync(0xffffffffu, inclusive - count, owner);
      const int expert = static_cast<int>(base + owner);
      const int64_t begin = clamp_row(off[expert], 0);
      *out = RowTile{expert, begin + (tile - before - exclusive) * kBM, clamp_row(off[expert + 1], begin)};
      return true;
    }
    before += total;
  }
  return false;
}

// Writes the outputs of columns (col, col + 1) of one row from raw MMA sums, which carry a factor
// 16 * 16 from the nibble expansion (int4_lo_x16 / int4_hi_x16): the division is an exact shift.
__device__ __forceinline__ void store_output_pair(const W4A4GemmArgs& args, const RowTile& tile, int64_t row,
                                                  int64_t col, int raw0, int raw1) {
  int v0 = raw0 >> 8;
  int v1 = raw1 >> 8;
  const int64_t wcol = tile.expert * args.n + col;  // row of the stacked weight parameters
  if (args.a_zero != nullptr) {
    const int z = static_cast<int>(args.a_zero[row]);
    v0 -= z * args.b_rowsum[wcol];
    v1 -= z * args.b_rowsum[wcol + 1];
  }
  const int64_t idx = row * args.n + col;
  if (args.out_accumulators != nullptr) {
    *reinterpret_cast<int2*>(args.out_accumulators + idx) = make_int2(v0, v1);
    return;
  }
  // Explicit _rn operations: no fused multiply-add, the same float32 ops as the CPU reference.
  const float sa = args.a_scale[row];
  float f0 = __fmul_rn(__fmul_rn(__int2float_rn(v0), sa), args.b_scale[wcol]);
  float f1 = __fmul_rn(__fmul_rn(__int2float_rn(v1), sa), args.b_scale[wcol + 1]);
  if (args.bias != nullptr) {
    f0 = __fadd_rn(f0, args.bias[col]);
    f1 = __fadd_rn(f1, args.bias[col + 1]);
  }
  *reinterpret_cast<__nv_bfloat162*>(args.out + idx) = __floats2bfloat162_rn(f0, f1);
}

}  // namespace fq::kernels::gpu
