// W4A4 GEMM with mma.sync m16n8k32 (sm_80+; runs on Hopper too).
//
// Packed tiles go global -> shared with cp.async (multi-stage). Each thread reads its fragments of the
// PACKED tiles with ldmatrix: one 8x8 b16 matrix is 8 rows x 16 bytes = 8 rows x 32 nibbles, and lane l
// receives the 4 bytes (8 codes) at row l/4, byte 4 * (l%4), exactly the rows and k-group of an m16n8k32
// fragment. The 8 codes split into even and odd elements (int4_lo_x16 / int4_hi_x16), which fill the
// fragment's k-slots [4c, 4c+4) and [16+4c, 16+4c+4). A and B use the same slot assignment, so every
// product pairs the same physical k: a permutation of k inside each 32-wide step, invisible in the sum.
#include <algorithm>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/sm80_primitives.cuh"
#include "kernels/cuda/w4a4_gemm.cuh"
#include "kernels/cuda/w4a4_gemm_tile.cuh"

namespace fq::kernels::gpu {
namespace {

constexpr int kBK = 128;          // k elements per pipeline stage (64 packed bytes per row)
constexpr int kRowBytes = 64 + 16;  // padded shared-memory row: 8 consecutive rows hit distinct banks

template <int BM_, int BN_, int WM_, int WN_, int STAGES_>
struct TileConfig {
  static constexpr int kBM = BM_, kBN = BN_, kWM = WM_, kWN = WN_, kStages = STAGES_;
  static constexpr int kWarpsN = kBN / kWN;
  static constexpr int kWarps = (kBM / kWM) * kWarpsN;
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kStageBytes = (kBM + kBN) * kRowBytes;
  using Operands = TileOperands<kBM, kBN>;  // after the stages; then a grouped launch's expert table
  static constexpr int kSmemBytes = kStages * kStageBytes + static_cast<int>(sizeof(Operands));
  static_assert(kWM % 16 == 0 && kWN % 16 == 0, "warp tiles are whole m16 / pairs of n8 tiles");
};

using SmallM = TileConfig<16, 64, 16, 16, 6>;     // decode: M <= 16
using MediumM = TileConfig<64, 128, 32, 64, 4>;   // M <= 512
using LargeM = TileConfig<128, 128, 64, 64, 4>;   // prefill

template <class Cfg, bool kASigned>
__global__ void __launch_bounds__(Cfg::kThreads) w4a4_gemm_mma_kernel(const W4A4GemmArgs args) {
  constexpr int kMT = Cfg::kWM / 16;
  constexpr int kNT = Cfg::kWN / 8;
  extern __shared__ __align__(128) uint8_t smem[];

  const ExpertTiles table(smem + Cfg::kSmemBytes, args.experts);
  if (args.expert_offsets != nullptr) build_expert_tiles<Cfg::kBM>(args, table);
  RowTile tile;
  if (!locate_row_tile<Cfg::kBM>(args, table, blockIdx.y, &tile)) return;
  const int64_t n0 = static_cast<int64_t>(blockIdx.x) * Cfg::kBN;
  const int64_t row_bytes = args.k / 2;
  const int64_t rows_left = tile.row_end - tile.row0;
  const int64_t cols_left = args.n - n0;
  const int rows_a = static_cast<int>(rows_left < Cfg::kBM ? rows_left : Cfg::kBM);
  const int rows_b = static_cast<int>(cols_left < Cfg::kBN ? cols_left : Cfg::kBN);
  const uint8_t* a_base = args.a + tile.row0 * row_bytes;
  const uint8_t* b_base = args.b + (tile.expert * args.n + n0) * row_bytes;
  const int ktiles = static_cast<int>(ceil_div(args.k, kBK));
  const int tid = threadIdx.x;
  auto* operands = reinterpret_cast<typename Cfg::Operands*>(smem + Cfg::kStages * Cfg::kStageBytes);

  auto load_stage = [&](int stage, int kt) {
    uint8_t* s_a = smem + stage * Cfg::kStageBytes;
    uint8_t* s_b = s_a + Cfg::kBM * kRowBytes;
    const int64_t kbyte = static_cast<int64_t>(kt) * (kBK / 2);
    for (int c = tid; c < (Cfg::kBM + Cfg::kBN) * 4; c += Cfg::kThreads) {
      const int r = c / 4;
      const int q = c % 4;
      const bool in_k = kbyte + q * 16 < row_bytes;  // K % 32 == 0: 16-byte chunks are whole
      if (r < Cfg::kBM) {
        const bool valid = in_k && r < rows_a;
        cp_async_16(s_a + r * kRowBytes + q * 16, valid ? a_base + r * row_bytes + kbyte + q * 16 : args.a, valid);
      } else {
        const int rb = r - Cfg::kBM;
        const bool valid = in_k && rb < rows_b;
        cp_async_16(s_b + rb * kRowBytes + q * 16, valid ? b_base + rb * row_bytes + kbyte + q * 16 : args.b, valid);
      }
    }
  };

  const int warp = tid / 32;
  const int lane = tid % 32;
  const int wm0 = (warp / Cfg::kWarpsN) * Cfg::kWM;
  const int wn0 = (warp % Cfg::kWarpsN) * Cfg::kWN;
  const int ld_mat = lane / 8;
  const int ld_row = lane % 8;

  int acc[kMT][kNT][4];
#pragma unroll
  for (int i = 0; i < kMT; ++i)
#pragma unroll
    for (int j = 0; j < kNT; ++j) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0;

#pragma unroll
  for (int s = 0; s < Cfg::kStages - 1; ++s) {
    if (s < ktiles) load_stage(s, s);
    cp_async_commit();
  }
  // Staged while the first stages land; visible after the main loop's first barrier (ktiles >= 1).
  operands->load(args, tile, n0, tid, Cfg::kThreads);
  for (int kt = 0; kt < ktiles; ++kt) {
    cp_async_wait<Cfg::kStages - 2>();
    __syncthreads();  // stage kt landed for everyone; stage kt-1 is free for the prefetch below
    const int next = kt + Cfg::kStages - 1;
    if (next < ktiles) load_stage(next % Cfg::kStages, next);
    cp_async_commit();

    const uint8_t* s_a = smem + (kt % Cfg::kStages) * Cfg::kStageBytes;
    const uint8_t* s_b = s_a + Cfg::kBM * kRowBytes;
#pragma unroll
    for (int sp = 0; sp < kBK / 32; sp += 2) {  // pairs of 32-wide k-steps (16 bytes each)
      uint32_t aw[kMT][4];  // [row g | row g+8] x [step sp | sp+1]
      uint32_t bw[kNT / 2][4];  // [tile 2p: sp, sp+1 | tile 2p+1: sp, sp+1]
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt)
        ldmatrix_x4(aw[mt], s_a + (wm0 + mt * 16 + (ld_mat & 1) * 8 + ld_row) * kRowBytes + (sp + (ld_mat >> 1)) * 16);
#pragma unroll
      for (int np = 0; np < kNT / 2; ++np)
        ldmatrix_x4(bw[np], s_b + (wn0 + (2 * np + (ld_mat >> 1)) * 8 + ld_row) * kRowBytes + (sp + (ld_mat & 1)) * 16);
#pragma unroll
      for (int s = 0; s < 2; ++s) {
        uint32_t af[kMT][4];
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          af[mt][0] = int4_lo_x16(aw[mt][2 * s]);
          af[mt][1] = int4_lo_x16(aw[mt][2 * s + 1]);
          af[mt][2] = int4_hi_x16(aw[mt][2 * s]);
          af[mt][3] = int4_hi_x16(aw[mt][2 * s + 1]);
        }
#pragma unroll
        for (int nt = 0; nt < kNT; ++nt) {
          const uint32_t w = bw[nt / 2][(nt % 2) * 2 + s];
          const uint32_t b0 = int4_lo_x16(w);
          const uint32_t b1 = int4_hi_x16(w);
#pragma unroll
          for (int mt = 0; mt < kMT; ++mt) mma_i8_m16n8k32<kASigned>(acc[mt][nt], af[mt], b0, b1);
        }
      }
    }
  }
  cp_async_wait<0>();

  const int frag_row = lane / 4;
  const int frag_col = 2 * (lane % 4);
  const bool with_bias = args.bias != nullptr;
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int nt = 0; nt < kNT; ++nt) {
      const int c = wn0 + nt * 8 + frag_col;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int r = wm0 + mt * 16 + frag_row + 8 * h;
        if (r >= rows_a || n0 + c >= args.n) continue;
        const int2 v = operands->sums(r, c, acc[mt][nt][2 * h], acc[mt][nt][2 * h + 1]);
        const int64_t idx = (tile.row0 + r) * args.n + n0 + c;
        if (args.out_accumulators != nullptr) {
          *reinterpret_cast<int2*>(args.out_accumulators + idx) = v;
        } else {
          *reinterpret_cast<__nv_bfloat162*>(args.out + idx) = operands->output(r, c, v, with_bias);
        }
      }
    }
  }
}

template <class Cfg, bool kASigned>
void launch_config(const W4A4GemmArgs& args, cudaStream_t stream) {
  const auto kernel = w4a4_gemm_mma_kernel<Cfg, kASigned>;
  static const bool configured = [&] {
    FQ_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       Cfg::kSmemBytes + ExpertTiles::bytes(ExpertTiles::kMaxExperts)));
    return true;
  }();
  (void)configured;
  const bool grouped = args.expert_offsets != nullptr;
  const int64_t row_tiles = ceil_div(args.m, Cfg::kBM) + (grouped ? args.experts : 0);
  const dim3 grid(static_cast<unsigned>(ceil_div(args.n, Cfg::kBN)), static_cast<unsigned>(row_tiles));
  const int smem = Cfg::kSmemBytes + (grouped ? ExpertTiles::bytes(args.experts) : 0);
  kernel<<<grid, Cfg::kThreads, smem, stream>>>(args);
  FQ_CUDA_CHECK_LAUNCH();
}

template <class Cfg>
void launch_signed(const W4A4GemmArgs& args, cudaStream_t stream) {
  // Symmetric activations are signed nibbles (s8 MMA); asymmetric ones unsigned (u8 MMA).
  if (args.a_zero == nullptr) {
    launch_config<Cfg, true>(args, stream);
  } else {
    launch_config<Cfg, false>(args, stream);
  }
}

}  // namespace

void launch_w4a4_gemm_mma_sync(const W4A4GemmArgs& args, cudaStream_t stream) {
  // Rows per expert decide the tile height (the mean, for a grouped GEMM).
  const int64_t rows = args.expert_offsets != nullptr ? ceil_div(args.m, std::max<int64_t>(args.experts, 1)) : args.m;
  FQ_CHECK(ceil_div(args.m, 16) + args.experts < 65536, "launch_w4a4_gemm_mma_sync: ", args.m,
           " rows exceed the grid's row-tile limit");
  if (rows <= 16) {
    launch_signed<SmallM>(args, stream);
  } else if (rows <= 512) {
    launch_signed<MediumM>(args, stream);
  } else {
    launch_signed<LargeM>(args, stream);
  }
}

}  // namespace fq::kernels::gpu
