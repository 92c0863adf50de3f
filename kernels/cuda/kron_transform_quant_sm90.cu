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
//   Z_h = (L^T)_h X      A = L^T rows from registers (loaded once, copied per token), B = X from shared memory
//   Y_h = Z_h R          A = Z_h straight from the accumulators (bf16), B = R from shared memory
// A CTA (one per SM) has three warpgroups (three teams of one: n1 <= 64, n2 <= 128) or two (two teams of one,
// or one team of two); each team walks its own tokens through a ring of X stages filled by cp.async
// `stages - 1` tokens ahead, so only named barriers of the team are needed. After the products: the token's max/min (warp shuffles, then the team's warps
// through shared memory), quantization in registers, each warp's packed rows staged in shared memory and
// written with coalesced 4-byte stores (a warp's 16 rows are one contiguous range of the packed output).
//
// Shared-memory operand layout: X and R are MN-major B operands (kernels/mn_major_layout.h), their rows
// stored as they arrive, in the widest swizzle that divides a row.

#include <algorithm>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/kron_transform_quant.cuh"
#include "kernels/cuda/sm80_primitives.cuh"
#include "kernels/cuda/sm90_primitives.cuh"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/int4_coder.h"
#include "kernels/mn_major_layout.h"

namespace fq::kernels::gpu {
namespace {

// Warpgroups per CTA (one CTA per SM): three token teams where three warpgroups' registers fit the file
// (n1 <= 64, n2 <= 128: ~160 live registers), more warps to hide the latency of each team's serial phases;
// else two (teams of one or two warpgroups).
constexpr int warpgroups_for(int n1p, int n2p) { return n1p == 64 && n2p <= 128 ? 3 : 2; }
constexpr int kMaxStages = 4;
constexpr int kAlign = 1024;  // swizzle patterns repeat every 1024 bytes at most

// Shared-memory plan of one CTA, computed identically on host and device (offsets from the 1024-aligned base).
struct Plan {
  MnMajor r_layout, x_layout;
  int stages;        // X stages per team
  int teams;         // token teams per CTA
  int x_bytes;       // one X stage
  int stage_stride;  // bytes per row of a warp's packed staging (n2p / 2 + 4: an odd number of words, so
                    // that a warp's 8 fragment rows fall in distinct banks)
  int off_x, off_out, off_red, total_bytes;  // total includes the alignment slack
};

FQ_HOST_DEVICE Plan make_plan(int n1p, int n2, int n2p, bool has_right, int stages) {
  Plan p;
  const int sw = mn_major_swizzle_bytes(n2p);
  p.r_layout = MnMajor{sw, n2p};
  p.x_layout = MnMajor{sw, n1p};
  p.stages = stages;
  const int wgs = warpgroups_for(n1p, n2p);
  p.teams = wgs / (n1p / 64);
  p.x_bytes = p.x_layout.bytes(n2p);
  p.stage_stride = n2p / 2 + 4;
  p.off_x = has_right ? p.r_layout.bytes(n2p) : 0;
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

#undef FQ_F32
#undef FQ_F8
#undef FQ_F4

// One k-step over all kCols columns: wgmma of 64 columns, then of 32 and 16 for the rest. Every wgmma starts
// at a column block (a 32-column rest only occurs with 64-byte swizzle, a 16-column one with 32-byte);
// `block0` is the descriptor of the k-step's first block, column c lies (c / (swizzle / 2)) blocks further.
template <int kCols, int kCol0 = 0>
__device__ __forceinline__ void wgmma_row(float* acc, const uint32_t (&a)[4], uint64_t block0, const MnMajor& l) {
  if constexpr (kCol0 < kCols) {
    constexpr int kN = kCols - kCol0 >= 64 ? 64 : (kCols - kCol0 >= 32 ? 32 : 16);
    const uint64_t desc = block0 + static_cast<uint64_t>((kCol0 * 2 / l.swizzle) * l.block_bytes() >> 4);
    wgmma_bf16_rs<kN>(acc + kCol0 / 2, a, desc);
    wgmma_row<kCols, kCol0 + kN>(acc, a, block0, l);
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
  uint8_t* s_r = smem;
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

  // X stages are zeroed once: padding rows and columns are never written again.
  for (int idx = tid; idx < (plan.off_out - plan.off_x) / 16; idx += kThreads) {
    reinterpret_cast<uint4*>(s_x)[idx] = make_uint4(0, 0, 0, 0);
  }
  __syncthreads();  // the zeros are in place before the first tokens' copies land over them

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

  // The first tokens' copies start before R and L^T are set up, so that their latency hides behind it.
  for (int i = 0; i < stages - 1; ++i) fetch(i);

  // R in bf16, zero-padded to N2P x N2P, in the MN-major layout (the B operand of the second product).
  if (has_right) {
    for (int idx = tid; idx < N2P * N2P / 8; idx += kThreads) {
      const int k = idx / (N2P / 8);
      const int j = 8 * (idx % (N2P / 8));
      uint32_t w[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool in0 = k < n2 && j + 2 * e < n2;  // n2 % 8 == 0: pairs are whole
        w[e] = pack_bf16x2(in0 ? args.right[k * n2 + j + 2 * e] : 0.0f, in0 ? args.right[k * n2 + j + 2 * e + 1] : 0.0f);
      }
      *reinterpret_cast<uint4*>(s_r + plan.r_layout.chunk_offset(k, j)) = make_uint4(w[0], w[1], w[2], w[3]);
    }
  }
  // This warpgroup's rows of L^T as A fragments, zero outside n1: (L^T)[m][k] = L[k][m].
  uint32_t lt[kKSteps1][4];
  {
    auto lt_at = [&](int m, int k) { return m < n1 && k < n1 ? args.left[k * n1 + m] : 0.0f; };
    const int m0 = warp_row0 + g;
#pragma unroll
    for (int s = 0; s < kKSteps1; ++s) {
      const int k0 = 16 * s + 2 * c;
      lt[s][0] = pack_bf16x2(lt_at(m0, k0), lt_at(m0, k0 + 1));
      lt[s][1] = pack_bf16x2(lt_at(m0 + 8, k0), lt_at(m0 + 8, k0 + 1));
      lt[s][2] = pack_bf16x2(lt_at(m0, k0 + 8), lt_at(m0, k0 + 9));
      lt[s][3] = pack_bf16x2(lt_at(m0 + 8, k0 + 8), lt_at(m0 + 8, k0 + 9));
    }
  }
  fence_proxy_async();
  __syncthreads();

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

    // First product: Z = (L^T)_h X, in groups of up to 4 k-steps. The wgmma reads copies of L^T's fragments
    // made in this iteration by an ordinary instruction (an XOR with a zero that ptxas can neither prove nor
    // hoist out of the loop): with L^T itself as the operand, or a loop-invariant copy, ptxas (CUDA 12.4 and
    // 13.0, seen for n2p = 64) gave the second product's Z fragments the same registers, as if a wgmma's
    // register operand died with it, and every later token of a team was computed with the previous token's
    // Z as L^T. Groups of 4 keep the copies at 16 registers (n1p = 128 would spill with 32).
    constexpr int kGroupSteps = kKSteps1 < 4 ? kKSteps1 : 4;
    const uint32_t opaque_zero = static_cast<uint32_t>(i >> 48);
#pragma unroll
    for (int j = 0; j < kAcc; ++j) acc[j] = 0.0f;
    const uint64_t x_desc = plan.x_layout.descriptor(smem_addr(xs));
#pragma unroll
    for (int s0 = 0; s0 < kKSteps1; s0 += kGroupSteps) {
      uint32_t lt_copy[kGroupSteps][4];
#pragma unroll
      for (int s = 0; s < kGroupSteps; ++s) {
#pragma unroll
        for (int e = 0; e < 4; ++e) lt_copy[s][e] = lt[s0 + s][e] ^ opaque_zero;
      }
#pragma unroll
      for (int j = 0; j < kAcc; ++j) fence_operand(acc[j]);
      wgmma_fence();
#pragma unroll
      for (int s = 0; s < kGroupSteps; ++s) {
        wgmma_row<N2P>(acc, lt_copy[s],
                       x_desc + static_cast<uint64_t>((16 * (s0 + s) * plan.x_layout.swizzle) >> 4), plan.x_layout);
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
