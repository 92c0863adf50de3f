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

// Where the row tiles of a grouped GEMM lie: each expert's rows split into ceil(rows / kBM) tiles, all
// experts' tiles in order. Built in shared memory by each CTA from the device offsets, so that the grid is
// sized by the upper bound ceil(M / kBM) + E without reading the offsets on the host, and a tile is then
// found by a binary search in shared memory (a warp-wide scan over the offsets in global memory cost a
// chain of dependent loads per tile, ~8 for 256 experts). Offsets are clamped to [0, M] so that bad
// offsets cannot reach memory outside the operands. int32: the host checks M < 2^31 and E <= kMaxExperts.
struct ExpertTiles {
  static constexpr int kMaxExperts = 4096;
  int* base;  // first_tile [E + 1] (tiles before expert e; [E] is the number of tiles), row_begin [E], row_end [E]
  int experts;

  __host__ __device__ static constexpr int bytes(int64_t experts) { return static_cast<int>(4 * (3 * experts + 1)); }
  __device__ ExpertTiles(void* smem, int64_t e) : base(static_cast<int*>(smem)), experts(static_cast<int>(e)) {}
  __device__ int& first_tile(int e) const { return base[e]; }
  __device__ int& row_begin(int e) const { return base[experts + 1 + e]; }
  __device__ int& row_end(int e) const { return base[2 * experts + 1 + e]; }
};

// Fills the table; every thread of the CTA calls it (it ends with a barrier). Dense launches skip it.
template <int kBM>
__device__ void build_expert_tiles(const W4A4GemmArgs& args, const ExpertTiles& t) {
  const int64_t* off = args.expert_offsets;
  const int experts = static_cast<int>(args.experts);
  const int m = static_cast<int>(args.m);
  for (int e = threadIdx.x; e < experts; e += blockDim.x) {
    const int64_t b = off[e] < 0 ? 0 : (off[e] > m ? m : off[e]);
    const int64_t end = off[e + 1] < b ? b : (off[e + 1] > m ? m : off[e + 1]);
    t.row_begin(e) = static_cast<int>(b);
    t.row_end(e) = static_cast<int>(end);
    t.first_tile(e + 1) = static_cast<int>((end - b + kBM - 1) / kBM);  // the count, summed below
  }
  __syncthreads();
  if (threadIdx.x < 32) {  // warp 0 turns the counts into running sums, 32 experts at a time
    const int lane = threadIdx.x;
    int carry = 0;
    for (int base = 0; base < experts; base += 32) {
      const int e = base + lane;
      int v = e < experts ? t.first_tile(e + 1) : 0;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const int up = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += up;
      }
      if (e < experts) t.first_tile(e + 1) = carry + v;
      carry += __shfl_sync(0xffffffffu, v, 31);
    }
    if (lane == 0) t.first_tile(0) = 0;
  }
  __syncthreads();
}

// Tile `tile` of all experts' row tiles; false for tiles past the last one (the grid's row-tile count is
// an upper bound). `table` is unused for a dense weight (E = 1, no offsets).
template <int kBM>
__device__ __forceinline__ bool locate_row_tile(const W4A4GemmArgs& args, const ExpertTiles& table, int64_t tile,
                                                RowTile* out) {
  if (args.expert_offsets == nullptr) {
    *out = RowTile{0, tile * kBM, args.m};
    return tile * kBM < args.m;
  }
  int lo = 0;
  int hi = static_cast<int>(args.experts);  // first_tile[lo] <= tile < first_tile[hi]
  if (tile >= table.first_tile(hi)) return false;
  while (hi - lo > 1) {  // the last expert whose tiles start at or before `tile` (it has tiles: it owns it)
    const int mid = (lo + hi) / 2;
    if (table.first_tile(mid) <= tile) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  *out = RowTile{lo, table.row_begin(lo) + (tile - table.first_tile(lo)) * kBM, table.row_end(lo)};
  return true;
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
