// Fused Kronecker transform + int4 quantization with Hopper warpgroup MMA (wgmma, sm_90a).
//
// Why a second kernel beside the mma.sync one (kron_transform_quant.cu): there every warp re-reads the whole
// token X and all of R from shared memory through ldmatrix (~200 KB per 8192-wide token), keeps both products'
// fragments in registers (spills at 2 CTAs per SM) and waits on four CTA barriers per token group; it ran at
// 12-26% of copy bandwidth. Here a warpgroup reads each shared operand once per 64 rows, the products run
// asynchronously on the tensor cores, and the token pipeline is per team of warpgroups.
//
// Work split: one token's X [n1, n2] (bf16) is handled by a team of n1p / 64 warpgroups (n1p = n1 rounded up
// to 64 or 128), warpgroup h owning rows [64h, 64h + 64) of the results:
//   Z_h = (L^T)_h X      A = L^T from shared memory (L's rows: MN-major), B = X from shared memory
//   Y_h = Z_h R          A = Z_h straight from the accumulators (bf16), B = R from shared memory
// A CTA (one per SM) has as many warpgroups as the register file holds (warpgroups_for), in token teams;
// each team walks its own tokens through a ring of X stages filled by cp.async `stages - 1` tokens ahead, so
// only named barriers of the team are needed. After the products: the token's max/min (redux, then the
// team's warps through shared memory), quantization in registers (int4_coder.h), each warp's packed rows
// staged in shared memory and written with coalesced 4-byte stores (a warp's 16 rows are one contiguous
// range of the packed output).
//
// Shared-memory operand layout: L, X and R are MN-major operands (kernels/mn_major_layout.h), their rows
// stored as they arrive, in the widest swizzle that divides a row. (L^T used to be a register operand: it
// cost 32 registers per thread, and ptxas miscompiled it as a loop-invariant wgmma operand, see
// docs/BENCHMARKS.md.)

#include <algorithm>
#include <type_traits>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/kron_transform_quant.cuh"
#include "kernels/cuda/sm80_primitives.cuh"
#include "kernels/cuda/sm90_primitives.cuh"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/int4_coder.h"
#include "kernels/mn_major_layout.h"

namespace fq::kernels::gpu {
namespace {

// Warpgroups per CTA (one CTA per SM): the most whose registers fit the file (at most small spills of
// per-token scalars; ptxas -v, CUDA 12.4): more warps hide more of each team's serial phases.
constexpr int warpgroups_for(int n1p, int n2p) {
  if (n1p == 64) return n2p <= 128 ? 4 : (n2p <= 160 ? 3 : 2);
  return n2p <= 80 ? 4 : 2;
}
constexpr int kMaxStages = 4;
constexpr int kAlign = 1024;  // swizzle patterns repeat every 1024 bytes at most

// Shared-memory plan of one CTA, computed identically on host and device (offsets from the 1024-aligned base).
struct Plan {
  MnMajor l_layout, r_layout, x_layout;
  int stages;        // X stages per team
  int teams;         // token teams per CTA
  int x_bytes;       // one X stage
  int stage_stride;  // bytes per row of a warp's packed staging (n2p / 2 + 4: an odd number of words, so
                    // that a warp's 8 fragment rows fall in distinct banks)
  int off_r, off_x, off_out, off_red, total_bytes;  // total includes the alignment slack
};

FQ_HOST_DEVICE Plan make_plan(int n1p, int n2, int n2p, bool has_right, int stages) {
  Plan p;
  const int sw = mn_major_swizzle_bytes(n2p);
  p.l_layout = MnMajor{mn_major_swizzle_bytes(n1p), n1p};
  p.r_layout = MnMajor{sw, n2p};
  p.x_layout = MnMajor{sw, n1p};
  p.stages = stages;
  const int wgs = warpgroups_for(n1p, n2p);
  p.teams = wgs / (n1p / 64);
  p.x_bytes = p.x_layout.bytes(n2p);
  p.stage_stride = n2p / 2 + 4;
  // L first (n1p x n1p bf16: a multiple of 1024 bytes), then R and X, whose swizzle repeats within their sizes.
  p.off_r = p.l_layout.bytes(n1p);
  p.off_x = p.off_r + (has_right ? p.r_layout.bytes(n2p) : 0);
  p.off_out = p.off_x + p.teams * stages * p.x_bytes;
  p.off_red = p.off_out + 4 * wgs * 16 * p.stage_stride;
  p.total_bytes = kAlign + p.off_red + 4 * wgs * 2 * static_cast<int>(sizeof(float));
  return p;
}

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

#define FQ_F4(d, i) "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3])
#define FQ_F8(d, i) FQ_F4(d, i), FQ_F4(d, i + 4)
#define FQ_F32(d, i) FQ_F8(d, i), FQ_F8(d, i + 8), FQ_F8(d, i + 16), FQ_F8(d, i + 24)

// D[64 x N] += A[64 x 16] (bf16 registers) * B[16 x N] (bf16, shared memory, MN-major: trans-b = 1), float32.
// Scale-d is the immediate 1 (accumulate; the accumulators start at zero), as in the W4A4 GEMM.
template <int N>
__device__ __forceinline__ void wgmma_bf16_rs(float* d, const uint32_t (&a)[4], uint64_t desc_b);

template <>
__device__ __forceinline__ void wgmma_bf16_rs<16>(float* d, const uint32_t (&a)[4], uint64_t desc_b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7}, "
      "{%8, %9, %10, %11}, %12, 1, 1, 1, 1;\n"
      : FQ_F8(d, 0)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
}

template <>
__device__ __forceinline__ void wgmma_bf16_rs<32>(float* d, const uint32_t (&a)[4], uint64_t desc_b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, "
      "%11, %12, %13, %14, %15}, {%16, %17, %18, %19}, %20, 1, 1, 1, 1;\n"
      : FQ_F8(d, 0), FQ_F8(d, 8)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
}

template <>
__device__ __forceinline__ void wgmma_bf16_rs<64>(float* d, const uint32_t (&a)[4], uint64_t desc_b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, "
      "%11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, "
      "%31}, {%32, %33, %34, %35}, %36, 1, 1, 1, 1;\n"
      : FQ_F32(d, 0)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));
}

// The same with A from shared memory too (MN-major: trans-a = 1): the first product's L^T, stored as L's rows.
template <int N>
__device__ __forceinline__ void wgmma_bf16_ss(float* d, uint64_t desc_a, uint64_t desc_b);

template <>
__device__ __forceinline__ void wgmma_bf16_ss<16>(float* d, uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n16k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7}, "
      "%8, %9, 1, 1, 1, 1, 1;\n"
      : FQ_F8(d, 0)
      : "l"(desc_a), "l"(desc_b));
}

template <>
__device__ __forceinline__ void wgmma_bf16_ss<32>(float* d, uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, "
      "%11, %12, %13, %14, %15}, %16, %17, 1, 1, 1, 1, 1;\n"
      : FQ_F8(d, 0), FQ_F8(d, 8)
      : "l"(desc_a), "l"(desc_b));
}

template <>
__device__ __forceinline__ void wgmma_bf16_ss<64>(float* d, uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, "
      "%11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, "
      "%31}, %32, %33, 1, 1, 1, 1, 1;\n"
      : FQ_F32(d, 0)
      : "l"(desc_a), "l"(desc_b));
}

#undef FQ_F32
#undef FQ_F8
#undef FQ_F4

// One k-step over all kCols columns: wgmma of 64 columns, then of 32 and 16 for the rest. Every wgmma starts
// at a column block (a 32-column rest only occurs with 64-byte swizzle, a 16-column one with 32-byte);
// `block0` is the descriptor of the k-step's first block, column c lies (c / (swizzle / 2)) blocks further.
// A is the k-step's fragments (registers) or its shared-memory descriptor.
template <int kCols, int kCol0 = 0, typename A>
__device__ __forceinline__ void wgmma_row(float* acc, const A& a, uint64_t block0, const MnMajor& l) {
  if constexpr (kCol0 < kCols) {
    constexpr int kN = kCols - kCol0 >= 64 ? 64 : (kCols - kCol0 >= 32 ? 32 : 16);
    const uint64_t desc = block0 + static_cast<uint64_t>((kCol0 * 2 / l.swizzle) * l.block_bytes() >> 4);
    if constexpr (std::is_same_v<A, uint64_t>) {
      wgmma_bf16_ss<kN>(acc + kCol0 / 2, a, desc);
    } else {
      wgmma_bf16_rs<kN>(acc + kCol0 / 2, a, desc);
    }
    wgmma_row<kCols, kCol0 + kN>(acc, a, block0, l);
  }
}

// A float32 [rows, cols] matrix as bf16, zero-padded to [rows_p, cols_p], into `layout` at `dst`; the CTA's
// threads share the 16-byte chunks (cols % 8 == 0: chunks are whole or all padding).
__device__ __forceinline__ void store_mn_major(const float* m, int rows, int cols, int rows_p, int cols_p,
                                               const MnMajor& layout, uint8_t* dst) {
  for (int idx = threadIdx.x; idx < rows_p * cols_p / 8; idx += blockDim.x) {
    const int k = idx / (cols_p / 8);
    const int j = 8 * (idx % (cols_p / 8));
    const bool in = k < rows && j < cols;
    uint32_t w[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      w[e] = pack_bf16x2(in ? m[k * cols + j + 2 * e] : 0.0f, in ? m[k * cols + j + 2 * e + 1] : 0.0f);
    }
    *reinterpret_cast<uint4*>(dst + layout.chunk_offset(k, j)) = make_uint4(w[0], w[1], w[2], w[3]);
  }
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// (Two CTAs per SM at 128 registers were tried for n1 <= 64: from n2p = 112 on ptxas then spills and, for
// n2p = 128, serialises every wgmma (C7512 "insufficient register resources").)
template <int kN1P, int N2P>
__global__ void __launch_bounds__(128 * warpgroups_for(kN1P, N2P), 1)
    kron_transform_quant_wgmma_kernel(const KronQuantArgs args, int stages) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kTeamWgs = kN1P / 64;
  constexpr int kThreads = 128 * warpgroups_for(kN1P, N2P);
  constexpr int kTeams = warpgroups_for(kN1P, N2P) / kTeamWgs;
  constexpr int kTeamThreads = 128 * kTeamWgs;
  constexpr int kAcc = N2P / 2;        // accumulators per thread (64 rows x N2P columns per warpgroup)
  constexpr int kKSteps1 = kN1P / 16;  // k-steps of the first product
  constexpr int kKSteps2 = N2P / 16;   // ... of the second
  extern __shared__ __align__(16) uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((kAlign - (smem_addr(smem_raw) % kAlign)) % kAlign);
  const int n1 = args.n1;
  const int n2 = args.n2;
  const int n = n1 * n2;
  const bool has_right = args.right != nullptr;
  const Plan plan = make_plan(kN1P, n2, N2P, has_right, stages);
  uint8_t* s_l = smem;
  uint8_t* s_r = smem + plan.off_r;
  uint8_t* s_x = smem + plan.off_x;
  float* s_red = reinterpret_cast<float*>(smem + plan.off_red);

  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  const int team = warp / (4 * kTeamWgs);
  const int team_tid = tid % kTeamThreads;
  const int wg_row0 = 64 * ((warp / 4) % kTeamWgs);  // first row of this warpgroup's results
  const int warp_row0 = wg_row0 + 16 * (warp % 4);    // ... and of this warp's
  const int g = lane / 4;                             // fragment row (and g + 8)
  const int c = lane % 4;                             // fragment column pair
  uint8_t* s_out = smem + plan.off_out + warp * 16 * plan.stage_stride;

  // L (rows k, columns m: L^T as an MN-major A operand) and R (the second product's B operand) in bf16,
  // zero-padded, in the MN-major layout.
  store_mn_major(args.left, n1, n1, kN1P, kN1P, plan.l_layout, s_l);
  if (has_right) store_mn_major(args.right, n2, n2, N2P, N2P, plan.r_layout, s_r);
  // X stages are zeroed once: padding rows and columns are never written again.
  for (int idx = tid; idx < (plan.off_out - plan.off_x) / 16; idx += kThreads) {
    reinterpret_cast<uint4*>(s_x)[idx] = make_uint4(0, 0, 0, 0);
  }
  fence_proxy_async();
  __syncthreads();

  const int64_t team_first = static_cast<int64_t>(blockIdx.x) * kTeams + team;
  const int64_t team_stride = static_cast<int64_t>(gridDim.x) * kTeams;
  uint8_t* team_x = s_x + team * stages * plan.x_bytes;
  // This thread's 16-byte chunks of a token: one column chunk (8 elements) of every `row_step`-th row, so
  // that the column's part of the swizzled offset is computed once (the n2 / 8 chunks of a row go to
  // consecutive threads; the kTeamThreads % (n2 / 8) threads left over idle); fn(e, offset in the X stage)
  // for the chunk of elements e .. e + 7 of the token.
  const int row_chunks = n2 / 8;
  const int row_step = kTeamThreads / row_chunks;
  const int col_chunk = team_tid % row_chunks;
  const int first_row = team_tid < row_step * row_chunks ? team_tid / row_chunks : n1;
  const int col_offset = plan.x_layout.column_offset(8 * col_chunk);
  const int line_byte = plan.x_layout.line_byte(8 * col_chunk);
  auto for_each_chunk = [&](auto&& fn) {
    int element = first_row * n2 + 8 * col_chunk;
    for (int r = first_row; r < n1; r += row_step, element += row_step * n2) {
      fn(element, col_offset + plan.x_layout.row_offset(r, line_byte));
    }
  };
  // Token i of this team (its i-th) into the next stage of the ring (stage i % stages, counted without a
  // division); always one commit group, so that the wait counts hold at the tail.
  int fetch_stage = 0;
  auto fetch = [&](int64_t i) {
    const int64_t token = team_first + i * team_stride;
    if (token < args.rows) {
      uint8_t* stage = team_x + fetch_stage * plan.x_bytes;
      const __nv_bfloat16* src = args.x + token * n;
      for_each_chunk([&](int e, int offset) { cp_async_16(stage + offset, src + e, true); });
    }
    cp_async_commit();
    fetch_stage = fetch_stage + 1 == stages ? 0 : fetch_stage + 1;
  };
  auto wait_for_oldest = [&] {  // all but the newest stages - 1 groups have landed
    if (stages == 2) cp_async_wait<1>();
    else if (stages == 3) cp_async_wait<2>();
    else cp_async_wait<3>();
  };

  for (int i = 0; i < stages - 1; ++i) fetch(i);
  float acc[kAcc];
  int read_stage = 0;  // token i's stage, i % stages
  for (int64_t i = 0;; ++i, read_stage = read_stage + 1 == stages ? 0 : read_stage + 1) {
    const int64_t token = team_first + i * team_stride;
    if (token >= args.rows) break;
    fetch(i + stages - 1);  // into the stage token i - 1 used: its products completed before the last barrier
    wait_for_oldest();
    uint8_t* xs = team_x + read_stage * plan.x_bytes;
    if (args.diag != nullptr) {  // x * d on this thread's own chunks, rounded to bf16 like the operand it becomes
      for_each_chunk([&](int e, int offset) {
        uint4* chunk = reinterpret_cast<uint4*>(xs + offset);
        uint4 v = *chunk;
        __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float2 f = __bfloat1622float2(h[j]);
          h[j] = __floats2bfloat162_rn(f.x * args.diag[e + 2 * j], f.y * args.diag[e + 2 * j + 1]);
        }
        *chunk = v;
      });
    }
    fence_proxy_async();
    named_barrier_sync(1 + team, kTeamThreads);

    // First product: Z = (L^T)_h X, both operands in shared memory: this warpgroup's 64 columns of L.
#pragma unroll
    for (int j = 0; j < kAcc; ++j) acc[j] = 0.0f;
    {
      const uint64_t x_desc = plan.x_layout.descriptor(smem_addr(xs));
      const uint64_t l_desc = plan.l_layout.descriptor(smem_addr(s_l + plan.l_layout.column_offset(wg_row0)));
#pragma unroll
      for (int j = 0; j < kAcc; ++j) fence_operand(acc[j]);
      wgmma_fence();
#pragma unroll
      for (int s = 0; s < kKSteps1; ++s) {
        const uint64_t k_step = static_cast<uint64_t>((16 * s * plan.x_layout.swizzle) >> 4);
        wgmma_row<N2P>(acc, l_desc + static_cast<uint64_t>((16 * s * plan.l_layout.swizzle) >> 4), x_desc + k_step,
                       plan.x_layout);
      }
      wgmma_commit();
      wgmma_wait<0>();
#pragma unroll
      for (int j = 0; j < kAcc; ++j) fence_operand(acc[j]);
    }

    // Second product: Y = Z R, Z's accumulators reused as bf16 A fragments (k-step kt = accumulator tiles
    // 2kt and 2kt + 1, whose m64n8 layout per warp is the m64k16 A layout).
    if (has_right) {
      uint32_t z[kKSteps2][4];
#pragma unroll
      for (int kt = 0; kt < kKSteps2; ++kt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) z[kt][e] = pack_bf16x2(acc[8 * kt + 2 * e], acc[8 * kt + 2 * e + 1]);
      }
#pragma unroll
      for (int j = 0; j < kAcc; ++j) acc[j] = 0.0f;
#pragma unroll
      for (int j = 0; j < kAcc; ++j) fence_operand(acc[j]);
#pragma unroll
      for (int kt = 0; kt < kKSteps2; ++kt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) fence_operand(z[kt][e]);
      }
      wgmma_fence();
      const uint64_t r_desc = plan.r_layout.descriptor(smem_addr(s_r));
#pragma unroll
      for (int kt = 0; kt < kKSteps2; ++kt) {
        wgmma_row<N2P>(acc, z[kt], r_desc + static_cast<uint64_t>((16 * kt * plan.r_layout.swizzle) >> 4),
                       plan.r_layout);
      }
      wgmma_commit();
      wgmma_wait<0>();
#pragma unroll
      for (int j = 0; j < kAcc; ++j) fence_operand(acc[j]);
    }

    // The token's max/min over the team: padding rows and columns hold exact zeros, which the quantizer
    // includes anyway.
    float row_max = 0.0f, row_min = 0.0f;
#pragma unroll
    for (int j = 0; j < kAcc; ++j) row_max = fmaxf(row_max, acc[j]), row_min = fminf(row_min, acc[j]);
    row_max = warp_max(row_max);
    row_min = warp_min(row_min);
    if (lane == 0) {
      s_red[2 * warp] = row_max;
      s_red[2 * warp + 1] = row_min;
    }
    named_barrier_sync(1 + team, kTeamThreads);
    const int first_warp = team * 4 * kTeamWgs;
    float token_max = s_red[2 * first_warp], token_min = s_red[2 * first_warp + 1];
#pragma unroll
    for (int w = 1; w < 4 * kTeamWgs; ++w) {
      token_max = fmaxf(token_max, s_red[2 * (first_warp + w)]);
      token_min = fminf(token_min, s_red[2 * (first_warp + w) + 1]);
    }
    const TokenQuantParams qp = token_quant_params(token_max, token_min, args.cfg);
    if (team_tid == 0) {
      args.scale[token] = qp.scale;
      if (args.zero != nullptr) args.zero[token] = qp.zero;
    }

    // Quantize into this warp's staging rows (byte (row, col / 2) holds columns col and col + 1), padding
    // rows and columns included (they are never copied out), then copy the warp's valid rows, one contiguous
    // range of the packed output, with 4-byte stores.
    const int valid_rows = min(16, n1 - warp_row0);
    if (valid_rows > 0) {
      with_int4_coder(qp, [&](const auto& code) {
#pragma unroll
        for (int j = 0; j < kAcc / 4; ++j) {
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            s_out[(g + 8 * h) * plan.stage_stride + 4 * j + c] =
                static_cast<uint8_t>(int4_pair(code(acc[4 * j + 2 * h]), code(acc[4 * j + 2 * h + 1])));
          }
        }
      });
      __syncwarp();
      const int row_words = n2 / 8;  // 4-byte words of a packed row (n2 <= 224: at most 28)
      uint32_t* dst = reinterpret_cast<uint32_t*>(args.packed + token * (n / 2) + warp_row0 * (n2 / 2));
      int r = lane / row_words, wq = lane % row_words;
      const int step_rows = 32 / row_words, step_words = 32 % row_words;
      for (int w = lane; w < valid_rows * row_words; w += 32) {
        dst[w] = *reinterpret_cast<const uint32_t*>(s_out + r * plan.stage_stride + 4 * wq);
        r += step_rows;
        wq += step_words;
        if (wq >= row_words) wq -= row_words, ++r;
      }
      __syncwarp();
    }
  }
  cp_async_wait<0>();
#else
  __trap();  // built without sm_90a: wgmma_available() keeps the host from launching this
#endif
}

int padded_n1(int64_t n1) { return n1 <= 64 ? 64 : 128; }
int padded_n2(int64_t n2) { return static_cast<int>(ceil_div(n2, 16) * 16); }

// The most X stages (2..kMaxStages) that fit the device's shared memory; 0 when not even 2 do.
int stages_that_fit(int n1p, int n2, int n2p, bool has_right) {
  const int limit = max_optin_smem();
  for (int s = kMaxStages; s >= 2; --s) {
    if (make_plan(n1p, n2, n2p, has_right, s).total_bytes <= limit) return s;
  }
  return 0;
}

template <int kN1P, int N2P>
void launch_for(const KronQuantArgs& args, cudaStream_t stream) {
  const auto kernel = kron_transform_quant_wgmma_kernel<kN1P, N2P>;
  static const int smem_limit = [&] {
    const int limit = max_optin_smem();
    FQ_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, limit));
    return limit;
  }();
  const bool has_right = args.right != nullptr;
  const int stages = stages_that_fit(kN1P, args.n2, N2P, has_right);
  const Plan plan = make_plan(kN1P, args.n2, N2P, has_right, stages);
  FQ_CHECK(stages >= 2 && plan.total_bytes <= smem_limit, "launch_kron_transform_quant_wgmma: ", plan.total_bytes,
           " bytes of shared memory needed, the device allows ", smem_limit);
  const int threads = 128 * warpgroups_for(kN1P, N2P);
  const int per_sm = resident_blocks_per_sm(reinterpret_cast<const void*>(kernel), threads, plan.total_bytes);
  const int64_t ctas = ceil_div(args.rows, plan.teams);
  const int grid = static_cast<int>(std::min<int64_t>(ctas, int64_t{current_sm_count()} * per_sm));
  kernel<<<grid, threads, plan.total_bytes, stream>>>(args, stages);
  FQ_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool kron_transform_quant_wgmma_supported(int64_t n1, int64_t n2, bool has_left, bool has_right) {
  // n2 = 224 needs 112 accumulators + 56 registers of Z fragments + 32 of L^T per thread (255 with a small spill).
  if (!fused_sizes_in_range(n1, n2, has_left) || !wgmma_available()) return false;
  return stages_that_fit(padded_n1(n1), static_cast<int>(n2), padded_n2(n2), has_right) >= 2;
}

void launch_kron_transform_quant_wgmma(const KronQuantArgs& args, cudaStream_t stream) {
  with_padded_n2(padded_n2(args.n2), [&](auto n2p) {
    if (padded_n1(args.n1) == 64) {
      launch_for<64, decltype(n2p)::value>(args, stream);
    } else {
      launch_for<128, decltype(n2p)::value>(args, stream);
    }
  });
}

}  // namespace fq::kernels::gpu
