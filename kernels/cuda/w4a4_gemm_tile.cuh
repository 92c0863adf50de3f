// Pieces shared by the W4A4 GEMM kernels: locating a CTA's row tile among the experts and the exact
// epilogue's operands. Included by .cu files only.
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

// The per-row and per-column operands of one tile's epilogue, staged in shared memory while the main loop
// runs. Read from global memory between the output stores, each was a dependent round trip: the compiler
// cannot move a load over a store that might alias it (64 per thread in the wgmma kernel, docs/BENCHMARKS.md).
// Operands a launch does not have stage as neutral values (zero point 0, row sum 0), which give the same
// integers; the bias stays optional so that a missing bias adds nothing (x + 0 turns -0 into +0).
template <int kBM, int kBN>
struct TileOperands {
  float a_scale[kBM];
  float a_zero[kBM];
  float b_scale[kBN];
  int32_t b_rowsum[kBN];
  float bias[kBN];

  // Threads [0, threads) split the loads; rows and columns outside the tile's range stage zeros.
  __device__ __forceinline__ void load(const W4A4GemmArgs& args, const RowTile& tile, int64_t n0, int tid,
                                       int threads) {
    for (int r = tid; r < kBM; r += threads) {
      const int64_t row = tile.row0 + r;
      const bool in = row < tile.row_end;
      a_scale[r] = in && args.a_scale != nullptr ? args.a_scale[row] : 0.0f;
      a_zero[r] = in && args.a_zero != nullptr ? args.a_zero[row] : 0.0f;
    }
    for (int c = tid; c < kBN; c += threads) {
      const int64_t col = n0 + c;
      const bool in = col < args.n;
      const int64_t wcol = tile.expert * args.n + col;  // row of the stacked weight parameters
      b_scale[c] = in && args.b_scale != nullptr ? args.b_scale[wcol] : 0.0f;
      b_rowsum[c] = in && args.a_zero != nullptr ? args.b_rowsum[wcol] : 0;
      bias[c] = in && args.bias != nullptr ? args.bias[col] : 0.0f;
    }
  }

  // The exact integer sums of columns (c, c + 1) of tile row r from raw MMA sums, which carry a factor
  // 16 * 16 from the nibble expansion (int4_lo_x16 / int4_hi_x16): the division is an exact shift.
  __device__ __forceinline__ int2 sums(int r, int c, int raw0, int raw1) const {
    const int z = static_cast<int>(a_zero[r]);
    return make_int2((raw0 >> 8) - z * b_rowsum[c], (raw1 >> 8) - z * b_rowsum[c + 1]);
  }

  // Their bf16 outputs. Explicit _rn operations: no fused multiply-add, the same float32 ops as the CPU
  // reference.
  __device__ __forceinline__ __nv_bfloat162 output(int r, int c, int2 v, bool with_bias) const {
    const float sa = a_scale[r];
    float f0 = __fmul_rn(__fmul_rn(__int2float_rn(v.x), sa), b_scale[c]);
    float f1 = __fmul_rn(__fmul_rn(__int2float_rn(v.y), sa), b_scale[c + 1]);
    if (with_bias) {
      f0 = __fadd_rn(f0, bias[c]);
      f1 = __fadd_rn(f1, bias[c + 1]);
    }
    return __floats2bfloat162_rn(f0, f1);
  }
};

}  // namespace fq::kernels::gpu
