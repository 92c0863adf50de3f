// W4A4 GEMM with Hopper warpgroup MMA (wgmma, sm_90a), int8 MMA fed from int4.
//
// CTA tile 128 x 256, two warpgroups of 64 rows each, 128 k per step.
//   Packed tiles (A: 128 rows x 64 bytes, B: 256 rows x 64 bytes per step) stream into a ring of kStages
//     shared-memory stages by TMA (two box copies per step, started by one thread, completing on the stage's
//     transaction barrier), kStages - 1 steps ahead of the MMA, so that the global-load latency hides behind
//     several steps of tensor-core work. The boxes land 64-byte swizzled (16-byte chunk c of row r at
//     c ^ ((r / 2) % 4)), so that the 8 lanes of a shared-memory phase reading one chunk of 8 rows hit
//     distinct banks. Before, every thread copied its own bytes with 16-byte cp.async: a weight row's four
//     copies fetched each 32-byte L2 sector twice, and L2 was the busiest unit (docs/BENCHMARKS.md).
//   A (activations): each thread expands its fragment words in registers; wgmma reads A from registers.
//   B (weights): each thread expands its weight row to int8 and stores it as one 128-byte line of the
//     128-byte-swizzled K-major layout that wgmma reads from shared memory (double-buffered).
// k is permuted inside each 128-wide step (the same way for A and B, so the sum is unchanged): lane c of a
// quad takes the packed bytes [16c, 16c+16) = 4 words; word j feeds 32-wide k-step j, its even codes the
// fragment slots [4c, 4c+4), its odd codes [16+4c, 16+4c+4) (int4_lo_x16 / int4_hi_x16).
// Each step issues 4 wgmma asynchronously and overlaps them with the TMA copies of step t + kStages - 1 and
// the expansion of B(t + 1) into the other buffer. Tiles are rasterised in groups of 8 row tiles that walk
// all column tiles together, so that a wave reuses its weight tiles from L2.
// Persistent: one CTA per SM walks tiles with the grid's stride; the TMA ring runs on across its tiles, so
// that the next tile's first steps land while this one's epilogue runs. The epilogue's operands (scales,
// zero points, row sums, bias) are staged in shared memory during the main loop, and the bf16 outputs leave
// through shared memory in whole 16-byte chunks.
// History (docs/BENCHMARKS.md): loading the packed operands straight into registers two steps ahead ran at
// ~720-830 TOPS, 57% of the stall cycles waiting on those loads; the per-thread cp.async ring at 797-940;
// these TMA copies at 1003-1287 (LLaMA-70B shapes). Tried and slower than these TMA copies, on branches:
// two-CTA clusters sharing the weight box by TMA multicast (5-11% on LLaMA-70B shapes), and warp
// specialisation (an expander warpgroup, two MMA warpgroups keeping one step in flight; with the multicast,
// 13-25%). An interleaved (no-swizzle) B layout with column tiles fastest ran within +-7% of the swizzled
// one and was dropped.

#include <cuda.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/sm80_primitives.cuh"
#include "kernels/cuda/sm90_primitives.cuh"
#include "kernels/cuda/w4a4_gemm.cuh"
#include "kernels/cuda/w4a4_gemm_tile.cuh"

namespace fq::kernels::gpu {
namespace {

constexpr int kBM = 128;
constexpr int kBN = 256;
constexpr int kBK = 128;
constexpr int kThreads = 256;                 // two warpgroups; thread t also expands weight row t
constexpr int kLineBytes = kBK;               // one weight row's int8 values of a step
constexpr int kAtomBytes = 8 * kLineBytes;    // a swizzle atom: 8 lines
constexpr int kTileBytes = kBN * kLineBytes;  // the int8 B tile of one step
constexpr int kPackedABytes = kBM * kBK / 2;            // packed A of one step
constexpr int kStageBytes = kPackedABytes + kBN * kBK / 2;  // + packed B
constexpr int kStages = 4;                                // steps of packed data in flight
using Operands = TileOperands<kBM, kBN>;
// Expanded B double buffer (1024-byte aligned atoms first; the bf16 output tile in the epilogue), the packed
// stages, their barriers, the epilogue's operands, alignment slack.
constexpr int kSmemBytes = 2 * kTileBytes + kStages * kStageBytes + kStages * 8 + static_cast<int>(sizeof(Operands)) +
                           kAtomBytes;
static_assert(kBM * kBN * 2 <= 2 * kTileBytes, "the bf16 output tile fits the expanded-B buffers");
constexpr int kRasterGroup = 8;               // row tiles per rasterisation group

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

// Shared-memory matrix descriptor of the int8 B tile, K-major with 128-byte swizzle, in 16-byte units: each
// weight row's 128 k-values of a step form one 128-byte line, 8 lines an atom of 1024 bytes whose 16-byte
// chunks are XOR-ed with the line index (chunk' = chunk ^ (row % 8)). k-step j starts 32 bytes into the line
// (the hardware applies the XOR to the full address); atoms are 1024 bytes apart (stride byte offset); the
// leading byte offset is unused with swizzling (1 by convention); layout type 1 = 128-byte swizzle.
__device__ __forceinline__ uint64_t swizzled_desc(const void* tile_base, int step) {
  uint64_t desc = ((static_cast<uint64_t>(smem_addr(tile_base)) + 32 * step) & 0x3FFFF) >> 4;
  desc |= uint64_t{1} << 16;
  desc |= static_cast<uint64_t>(kAtomBytes >> 4) << 32;
  desc |= uint64_t{1} << 62;
  return desc;
}

// D[64 x 256] += A[64 x 32] (registers) * B[32 x 256] (shared memory), int32; ATYPE "s8" or "u8". The
// immediate scale-d 1 accumulates (the accumulators start at zero); a predicate set inside the asm would be a
// non-wgmma instruction inside the pipeline stage and serialise it.
#define FQ_WGMMA_M64N256K32_RS(ATYPE, d, a, desc_b) \
  asm volatile( \
      "wgmma.mma_async.sync.aligned.m64n256k32.s32." ATYPE ".s8 " \
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
      "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, " \
      "%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, " \
      "%56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, " \
      "%74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, " \
      "%92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, " \
      "%108, %109, %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, " \
      "%123, %124, %125, %126, %127}, {%128, %129, %130, %131}, %132, 1;\n" \
      : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]), "+r"(d[4]), "+r"(d[5]), "+r"(d[6]), "+r"(d[7]), \
        "+r"(d[8]), "+r"(d[9]), "+r"(d[10]), "+r"(d[11]), "+r"(d[12]), "+r"(d[13]), "+r"(d[14]), "+r"(d[15]), \
        "+r"(d[16]), "+r"(d[17]), "+r"(d[18]), "+r"(d[19]), "+r"(d[20]), "+r"(d[21]), "+r"(d[22]), \
        "+r"(d[23]), "+r"(d[24]), "+r"(d[25]), "+r"(d[26]), "+r"(d[27]), "+r"(d[28]), "+r"(d[29]), \
        "+r"(d[30]), "+r"(d[31]), "+r"(d[32]), "+r"(d[33]), "+r"(d[34]), "+r"(d[35]), "+r"(d[36]), \
        "+r"(d[37]), "+r"(d[38]), "+r"(d[39]), "+r"(d[40]), "+r"(d[41]), "+r"(d[42]), "+r"(d[43]), \
        "+r"(d[44]), "+r"(d[45]), "+r"(d[46]), "+r"(d[47]), "+r"(d[48]), "+r"(d[49]), "+r"(d[50]), \
        "+r"(d[51]), "+r"(d[52]), "+r"(d[53]), "+r"(d[54]), "+r"(d[55]), "+r"(d[56]), "+r"(d[57]), \
        "+r"(d[58]), "+r"(d[59]), "+r"(d[60]), "+r"(d[61]), "+r"(d[62]), "+r"(d[63]), "+r"(d[64]), \
        "+r"(d[65]), "+r"(d[66]), "+r"(d[67]), "+r"(d[68]), "+r"(d[69]), "+r"(d[70]), "+r"(d[71]), \
        "+r"(d[72]), "+r"(d[73]), "+r"(d[74]), "+r"(d[75]), "+r"(d[76]), "+r"(d[77]), "+r"(d[78]), \
        "+r"(d[79]), "+r"(d[80]), "+r"(d[81]), "+r"(d[82]), "+r"(d[83]), "+r"(d[84]), "+r"(d[85]), \
        "+r"(d[86]), "+r"(d[87]), "+r"(d[88]), "+r"(d[89]), "+r"(d[90]), "+r"(d[91]), "+r"(d[92]), \
        "+r"(d[93]), "+r"(d[94]), "+r"(d[95]), "+r"(d[96]), "+r"(d[97]), "+r"(d[98]), "+r"(d[99]), \
        "+r"(d[100]), "+r"(d[101]), "+r"(d[102]), "+r"(d[103]), "+r"(d[104]), "+r"(d[105]), "+r"(d[106]), \
        "+r"(d[107]), "+r"(d[108]), "+r"(d[109]), "+r"(d[110]), "+r"(d[111]), "+r"(d[112]), "+r"(d[113]), \
        "+r"(d[114]), "+r"(d[115]), "+r"(d[116]), "+r"(d[117]), "+r"(d[118]), "+r"(d[119]), "+r"(d[120]), \
        "+r"(d[121]), "+r"(d[122]), "+r"(d[123]), "+r"(d[124]), "+r"(d[125]), "+r"(d[126]), "+r"(d[127]) \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

__device__ __forceinline__ uint32_t word(const uint4& v, int j) {
  return j == 0 ? v.x : (j == 1 ? v.y : (j == 2 ? v.z : v.w));
}

// One output tile: its rows (expert and range) and first column.
struct GemmTile {
  RowTile rows;
  int64_t n0;
};

// Tile `id` of the grouped rasterisation (as Triton's GROUP_SIZE_M): tiles walk kRasterGroup row tiles x all
// column tiles, so that the CTAs running together reuse their weight tiles from L2. False for row tiles
// past the last expert's (the row-tile count is an upper bound, see ExpertTiles).
__device__ __forceinline__ bool locate_gemm_tile(const W4A4GemmArgs& args, const ExpertTiles& table, int64_t id,
                                                 int64_t row_tiles, int64_t col_tiles, GemmTile* out) {
  const int64_t width = kRasterGroup * col_tiles;
  const int64_t first = id / width * kRasterGroup;
  const int64_t group_rows = row_tiles - first < kRasterGroup ? row_tiles - first : kRasterGroup;
  out->n0 = (id % width) / group_rows * kBN;
  return locate_row_tile<kBM>(args, table, first + (id % width) % group_rows, &out->rows);
}

template <bool kASigned>
__global__ void __launch_bounds__(kThreads, 1)
    w4a4_gemm_wgmma_kernel(const W4A4GemmArgs args, const __grid_constant__ CUtensorMap packed_a,
                           const __grid_constant__ CUtensorMap packed_b) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // Swizzle atoms need 1024-byte alignment; the launch reserves the slack.
  uint8_t* smem = smem_raw + ((kAtomBytes - (smem_addr(smem_raw) % kAtomBytes)) % kAtomBytes);
  uint8_t* stages = smem + 2 * kTileBytes;
  uint64_t* landed = reinterpret_cast<uint64_t*>(stages + kStages * kStageBytes);  // one barrier per stage
  auto* operands = reinterpret_cast<Operands*>(landed + kStages);
  const ExpertTiles table(operands + 1, args.experts);  // grouped launches only
  const int64_t col_tiles = ceil_div(args.n, kBN);
  const int64_t row_tiles = ceil_div(args.m, kBM) + (args.expert_offsets != nullptr ? args.experts : 0);
  const int64_t tiles = row_tiles * col_tiles;
  const int ktiles = static_cast<int>(ceil_div(args.k, kBK));
  // The first tile this CTA owns at or after `id` (stepping by the grid), in `next`; `tiles` if none.
  auto next_tile = [&](int64_t id, GemmTile* next) {
    for (; id < tiles; id += gridDim.x)
      if (locate_gemm_tile(args, table, id, row_tiles, col_tiles, next)) return id;
    return tiles;
  };
  if (args.expert_offsets != nullptr) build_expert_tiles<kBM>(args, table);
  GemmTile tile;
  int64_t tile_id = next_tile(blockIdx.x, &tile);
  if (tile_id >= tiles) return;

  const int tid = threadIdx.x;
  const int lane = tid % 32;
  const int quad = lane % 4;
  const int warp_row0 = (tid / 128) * 64 + ((tid / 32) % 4) * 16 + lane / 4;  // fragment row g (and g + 8)
  // Where this thread's packed bytes sit in a stage (swizzled): chunk quad of A rows g and g + 8 (both with
  // (row / 2) % 4 = lane / 8), and its weight row's four chunks.
  const int a_off0 = warp_row0 * (kBK / 2) + 16 * (quad ^ (lane / 8));
  const int a_off1 = a_off0 + 8 * (kBK / 2);
  const int b_off = kPackedABytes + tid * (kBK / 2);
  const int b_swz = (tid / 2) % 4;
  // This thread's expanded weight row is line tid % 8 of atom tid / 8.
  uint8_t* b_line = smem + (tid / 8) * kAtomBytes + (tid % 8) * kLineBytes;

  // Steps are numbered across the CTA's tiles (step kt of its i-th tile is i * ktiles + kt): that number
  // picks the stage and the barrier's phase, so that the ring runs on from one tile into the next.
  // Packed data of step kt of tile `t` into its stage, by thread 0 (the boxes are zero-filled outside the
  // operands; rows past the tile's expert or column range are read but never stored).
  auto fetch_step = [&](const GemmTile& t, uint32_t first_step, int kt) {
    if (tid == 0 && kt < ktiles) {
      const uint32_t step = first_step + kt;
      uint8_t* st = stages + (step % kStages) * kStageBytes;
      uint64_t* bar = landed + step % kStages;
      mbarrier_arrive_expect_tx(bar, kStageBytes);
      tma_load_2d(st, &packed_a, kt * (kBK / 2), static_cast<int>(t.rows.row0), bar);
      tma_load_2d(st + kPackedABytes, &packed_b, kt * (kBK / 2), static_cast<int>(t.rows.expert * args.n + t.n0),
                  bar);
    }
  };
  auto wait_step = [&](uint32_t step) { mbarrier_wait(landed + step % kStages, (step / kStages) % 2); };
  auto expand_b = [&](uint32_t step, int buf) {
    const uint8_t* st = stages + (step % kStages) * kStageBytes + b_off;
    uint4 p[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) p[q] = *reinterpret_cast<const uint4*>(st + 16 * (q ^ b_swz));
    uint8_t* line = b_line + buf * kTileBytes;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const uint4 lo = make_uint4(int4_lo_x16(word(p[0], j)), int4_lo_x16(word(p[1], j)),
                                  int4_lo_x16(word(p[2], j)), int4_lo_x16(word(p[3], j)));
      const uint4 hi = make_uint4(int4_hi_x16(word(p[0], j)), int4_hi_x16(word(p[1], j)),
                                  int4_hi_x16(word(p[2], j)), int4_hi_x16(word(p[3], j)));
      // k-step j = 16-byte chunks 2j (even codes) and 2j + 1 (odd codes) of the line, swizzled.
      *reinterpret_cast<uint4*>(line + (((2 * j) ^ (tid % 8)) * 16)) = lo;
      *reinterpret_cast<uint4*>(line + (((2 * j + 1) ^ (tid % 8)) * 16)) = hi;
    }
  };

  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) mbarrier_init(landed + s, 1);
    fence_mbarrier_init();
  }
  __syncthreads();
  for (int kt = 0; kt < kStages - 1; ++kt) fetch_step(tile, 0, kt);
  const bool with_bias = args.bias != nullptr;

#pragma unroll 1
  for (uint32_t first_step = 0;; first_step += ktiles) {
    const int64_t n0 = tile.n0;
    const int64_t rows_left = tile.rows.row_end - tile.rows.row0;
    const int rows_a = static_cast<int>(rows_left < kBM ? rows_left : kBM);
    // While the first steps land; visible after the next barrier (the previous tile's epilogue read its
    // operands before its barriers).
    operands->load(args, tile.rows, n0, tid, kThreads);
    int acc[128];
#pragma unroll
    for (int i = 0; i < 128; ++i) acc[i] = 0;
    wait_step(first_step);
    expand_b(first_step, 0);
    fence_proxy_async();
    __syncthreads();
#pragma unroll
    for (int i = 0; i < 128; ++i) fence_operand(acc[i]);

    // Step t: expand A(t) in registers, issue its 4 wgmma on B buffer t % 2, and while they run fetch step
    // t + kStages - 1 (into the stage step t - 1 used, read by every thread before the last barrier) and
    // expand B(t + 1) into the other buffer (last read by step t - 1, complete). The wait is for ALL groups
    // (wait_group 0) before the next A expansion: ptxas serialises every wgmma of a kernel in which any
    // wgmma input register (A fragments, accumulators) is written while a group is in flight.
#pragma unroll 1
    for (int t = 0; t < ktiles; ++t) {
      const uint8_t* st = stages + ((first_step + t) % kStages) * kStageBytes;
      const uint4 pa0 = *reinterpret_cast<const uint4*>(st + a_off0);
      const uint4 pa1 = *reinterpret_cast<const uint4*>(st + a_off1);
      uint32_t frag[4][4];  // [k-step][register]
      uint64_t desc[4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        frag[j][0] = int4_lo_x16(word(pa0, j));
        frag[j][1] = int4_lo_x16(word(pa1, j));
        frag[j][2] = int4_hi_x16(word(pa0, j));
        frag[j][3] = int4_hi_x16(word(pa1, j));
        desc[j] = swizzled_desc(smem + (t % 2) * kTileBytes, j);
        // Pinned before the fence: an input defined between the wgmmas of a stage serialises them.
        fence_operand(desc[j]);
#pragma unroll
        for (int r = 0; r < 4; ++r) fence_operand(frag[j][r]);
      }
      wgmma_fence();
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if constexpr (kASigned) {
          FQ_WGMMA_M64N256K32_RS("s8", acc, frag[j], desc[j]);
        } else {
          FQ_WGMMA_M64N256K32_RS("u8", acc, frag[j], desc[j]);
        }
      }
      wgmma_commit();
      fetch_step(tile, first_step, t + kStages - 1);
      if (t + 1 < ktiles) {
        wait_step(first_step + t + 1);
        expand_b(first_step + t + 1, (t + 1) % 2);
      }
      wgmma_wait<0>();
      fence_proxy_async();
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 128; ++i) fence_operand(acc[i]);

    // The next tile's first steps go into the stages this tile has finished with, and land during the
    // epilogue, which uses the expanded-B buffers and the operands only.
    GemmTile next;
    tile_id = next_tile(tile_id + gridDim.x, &next);
    const bool more = tile_id < tiles;
    if (more)
      for (int kt = 0; kt < kStages - 1; ++kt) fetch_step(next, first_step + ktiles, kt);

    // Accumulator i of a thread: row g + 8 * ((i / 2) % 2), column 8 * (i / 4) + 2 * quad + i % 2.
    if (args.out_accumulators != nullptr) {  // exact sums (tests): straight to global memory
#pragma unroll
      for (int i = 0; i < 128; i += 2) {
        const int r = warp_row0 + 8 * ((i / 2) % 2);
        const int c = 8 * (i / 4) + 2 * quad;
        if (r < rows_a && n0 + c < args.n)
          *reinterpret_cast<int2*>(args.out_accumulators + (tile.rows.row0 + r) * args.n + n0 + c) =
              operands->sums(r, c, acc[i], acc[i + 1]);
      }
    } else {
      // bf16 outputs go through shared memory (the expanded-B buffers, free after the last step's barrier)
      // so that global stores are whole 16-byte chunks, a warp writing 512 contiguous bytes of one row; a
      // fragment's 4-byte pairs would write 16 bytes in each of 8 rows. Chunk c (8 columns) of row r sits at
      // c ^ (r % 8): the 8 rows of a fragment store hit distinct banks.
#pragma unroll
      for (int i = 0; i < 128; i += 2) {
        const int r = warp_row0 + 8 * ((i / 2) % 2);
        const int c = 8 * (i / 4) + 2 * quad;
        const __nv_bfloat162 y = operands->output(r, c, operands->sums(r, c, acc[i], acc[i + 1]), with_bias);
        *reinterpret_cast<__nv_bfloat162*>(smem + r * (kBN * 2) + (((c / 8) ^ (r % 8)) * 16) + (c % 8) * 2) = y;
      }
      __syncthreads();
      constexpr int kChunks = kBN / 8;  // 16-byte chunks per output row
      for (int idx = tid; idx < kBM * kChunks; idx += kThreads) {
        const int r = idx / kChunks;
        const int c = idx % kChunks;
        if (r < rows_a && n0 + 8 * c < args.n)
          *reinterpret_cast<uint4*>(args.out + (tile.rows.row0 + r) * args.n + n0 + 8 * c) =
              *reinterpret_cast<const uint4*>(smem + r * (kBN * 2) + ((c ^ (r % 8)) * 16));
      }
    }
    if (!more) break;
    __syncthreads();  // the staged outputs and the operands are read before the next tile overwrites them
    tile = next;
  }
#else
  __trap();  // built without sm_90a: wgmma_available() keeps the host from launching this
#endif
}

// Tensor map of a packed int4 operand [rows, k / 2] bytes, read in boxes of box_rows x 64 bytes (one step)
// that land 64-byte swizzled. The driver entry point comes through the runtime, so nothing links libcuda.
CUtensorMap packed_operand_map(const uint8_t* data, int64_t rows, int64_t k, int box_rows, const char* what) {
  using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  static const EncodeTiled encode = [] {
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult found{};
#if CUDART_VERSION >= 12050  // the unversioned query is deprecated from CUDA 13 (and fails on 13.1)
    FQ_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found));
#else
    FQ_CUDA_CHECK(cudaGetDriverEntryPoint("cuTensorMapEncodeTiled", &fn, cudaEnableDefault, &found));
#endif
    FQ_CHECK(found == cudaDriverEntryPointSuccess && fn != nullptr,
             "launch_w4a4_gemm_wgmma: the driver has no cuTensorMapEncodeTiled (TMA needs CUDA 12 drivers)");
    return reinterpret_cast<EncodeTiled>(fn);
  }();
  CUtensorMap map{};
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(k / 2), static_cast<cuuint64_t>(rows)};
  const cuuint64_t row_stride[1] = {static_cast<cuuint64_t>(k / 2)};
  const cuuint32_t box[2] = {kBK / 2, static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult rc = encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<uint8_t*>(data), dims, row_stride,
                             box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_64B,
                             CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  FQ_CHECK(rc == CUDA_SUCCESS, "launch_w4a4_gemm_wgmma: cuTensorMapEncodeTiled failed (", static_cast<int>(rc),
           ") for ", what, " [", rows, ", ", k / 2, "] bytes");
  return map;
}

template <bool kASigned>
void launch_signed(const W4A4GemmArgs& args, cudaStream_t stream) {
  const auto kernel = w4a4_gemm_wgmma_kernel<kASigned>;
  static const bool configured = [&] {
    FQ_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       kSmemBytes + ExpertTiles::bytes(ExpertTiles::kMaxExperts)));
    return true;
  }();
  (void)configured;
  // Persistent: one CTA per SM (a CTA fills an SM's shared memory), each walking the tiles with the grid's
  // stride.
  const int64_t sms = current_sm_count();
  const int64_t row_tiles = ceil_div(args.m, kBM) + (args.expert_offsets != nullptr ? args.experts : 0);
  const int64_t tiles = row_tiles * ceil_div(args.n, kBN);
  const int64_t blocks = tiles < sms ? tiles : sms;
  const CUtensorMap packed_a = packed_operand_map(args.a, args.m, args.k, kBM, "the activations");
  const CUtensorMap packed_b = packed_operand_map(args.b, args.experts * args.n, args.k, kBN, "the weights");
  const int smem = kSmemBytes + (args.expert_offsets != nullptr ? ExpertTiles::bytes(args.experts) : 0);
  kernel<<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(args, packed_a, packed_b);
  FQ_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_w4a4_gemm_wgmma(const W4A4GemmArgs& args, cudaStream_t stream) {
  FQ_CHECK(wgmma_available(), "launch_w4a4_gemm_wgmma: needs an sm_90 (Hopper) device");
  if (args.a_zero == nullptr) {
    launch_signed<true>(args, stream);
  } else {
    launch_signed<false>(args, stream);
  }
}

}  // namespace fq::kernels::gpu
