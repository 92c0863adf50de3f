#include "kernels/cuda/kron_transform_quant.cuh"

#include <algorithm>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/sm80_primitives.cuh"
#include "kernels/cuda/warp_reduce.cuh"
#include "kernels/int4_coder.h"

namespace fq::kernels::gpu {
namespace {

// One CTA of 8 warps works on a group of tokens at a time; each warp owns one 16-row strip of a token's
// X [n1, n2] (so n1 <= 128) and keeps that strip's results in registers through both products:
//   Z_strip = (L^T)_strip X       A = L^T from shared memory, B = X from shared memory
//   Y_strip = Z_strip R           A = Z_strip straight from the accumulators (bf16), B = R from shared memory
// then the token's max/min is combined across its warps through shared memory, the strip is quantized in
// registers, staged as packed bytes in shared memory and written with wide stores. The next group's X is
// fetched with cp.async while the second product runs.
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
static_assert(kFusedMaxN1 == 16 * kWarps, "one 16-row strip per warp");

// Shared-memory plan of one CTA, computed identically on host and device. Row strides carry 8 extra bf16
// (16 bytes) so that the eight 16-byte rows read by one ldmatrix fall into distinct banks.
struct Plan {
  int n1p;        // n1 rounded up to 16
  int strips;     // warps per token
  int tokens;     // tokens per group
  int ldl;        // row stride of L^T, elements
  int ldx;        // row stride of X and R, elements
  int out_bytes;  // packed bytes of one token
  int off_r, off_x, off_out, off_red, total_bytes;
};

FQ_HOST_DEVICE Plan make_plan(int n1, int n2, int n2p, bool has_right) {
  Plan p;
  p.n1p = (n1 + 15) / 16 * 16;
  p.strips = p.n1p / 16;
  p.tokens = kWarps / p.strips;
  p.ldl = p.n1p + 8;
  p.ldx = n2p + 8;
  p.out_bytes = n1 * n2 / 2;
  const int lt_bytes = p.n1p * p.ldl * 2;
  const int r_bytes = has_right ? n2p * p.ldx * 2 : 0;
  const int x_bytes = p.tokens * p.n1p * p.ldx * 2;
  const int out_total = (p.tokens * p.out_bytes + 15) / 16 * 16;
  p.off_r = lt_bytes;
  p.off_x = p.off_r + r_bytes;
  p.off_out = p.off_x + x_bytes;
  p.off_red = p.off_out + out_total;
  p.total_bytes = p.off_red + kWarps * 2 * static_cast<int>(sizeof(float));
  return p;
}

template <int N2P>
__global__ void __launch_bounds__(kThreads, (N2P <= 128) ? 2 : 1)
    kron_transform_quant_kernel(const KronQuantArgs args) {
  constexpr int kNTiles = N2P / 8;    // accumulator tiles of 8 columns
  constexpr int kKTiles2 = N2P / 16;  // k-steps of the second product
  extern __shared__ __align__(16) unsigned char smem[];
  const int n1 = args.n1;
  const int n2 = args.n2;
  const int n = n1 * n2;
  const bool has_right = args.right != nullptr;
  const Plan plan = make_plan(n1, n2, N2P, has_right);
  __nv_bfloat16* s_lt = reinterpret_cast<__nv_bfloat16*>(smem);
  __nv_bfloat16* s_r = reinterpret_cast<__nv_bfloat16*>(smem + plan.off_r);
  __nv_bfloat16* s_x = reinterpret_cast<__nv_bfloat16*>(smem + plan.off_x);
  uint8_t* s_out = smem + plan.off_out;
  float* s_red = reinterpret_cast<float*>(smem + plan.off_red);

  const int tid = threadIdx.x;
  const int warp = tid / 32;
  const int lane = tid % 32;
  const int64_t groups = ceil_div(args.rows, plan.tokens);

  // Factors in bf16, zero-padded to the tile sizes; L is stored transposed (the A operand is L^T).
  for (int idx = tid; idx < plan.n1p * plan.n1p; idx += kThreads) {
    const int k = idx / plan.n1p;
    const int i = idx % plan.n1p;
    s_lt[i * plan.ldl + k] = __float2bfloat16_rn(k < n1 && i < n1 ? args.left[k * n1 + i] : 0.0f);
  }
  if (has_right) {
    for (int idx = tid; idx < N2P * N2P; idx += kThreads) {
      const int k = idx / N2P;
      const int j = idx % N2P;
      s_r[k * plan.ldx + j] = __float2bfloat16_rn(k < n2 && j < n2 ? args.right[k * n2 + j] : 0.0f);
    }
  }
  // X is zeroed once: padding rows and columns are never written again, and the slots of tokens past the
  // end keep finite values.
  for (int idx = tid; idx < (plan.off_out - plan.off_x) / 16; idx += kThreads) {
    reinterpret_cast<uint4*>(smem + plan.off_x)[idx] = make_uint4(0, 0, 0, 0);
  }
  __syncthreads();

  const int chunks_per_row = n2 / 8;
  const int chunks_per_token = n / 8;
  auto load_group = [&](int64_t g) {
    const int64_t first = g * plan.tokens;
    const int valid = static_cast<int>(min(static_cast<int64_t>(plan.tokens), args.rows - first));
    for (int c = tid; c < valid * chunks_per_token; c += kThreads) {
      const int t = c / chunks_per_token;
      const int rem = c % chunks_per_token;
      const int i = rem / chunks_per_row;
      const int q = rem % chunks_per_row;
      cp_async_16(s_x + (t * plan.n1p + i) * plan.ldx + q * 8, args.x + (first + t) * n + rem * 8, true);
    }
    cp_async_commit();
  };

  const int t_local = warp / plan.strips;  // token of this warp within the group
  const int strip = warp % plan.strips;    // its 16-row strip
  const bool active = t_local < plan.tokens;
  const int frag_row = lane / 4;           // accumulator row (and row + 8)
  const int frag_col = 2 * (lane % 4);     // accumulator column pair
  const int ld_mat = lane / 8;             // ldmatrix: matrix this lane addresses
  const int ld_row = lane % 8;             // ... and its row

  if (blockIdx.x < groups) load_group(blockIdx.x);
  for (int64_t g = blockIdx.x; g < groups; g += gridDim.x) {
    cp_async_wait<0>();
    __syncthreads();
    const int64_t first = g * plan.tokens;
    const int valid = static_cast<int>(min(static_cast<int64_t>(plan.tokens), args.rows - first));
    if (args.diag != nullptr) {  // x * d, rounded to bf16 like the operand it becomes
      for (int e = tid; e < valid * n; e += kThreads) {
        const int t = e / n;
        const int rem = e % n;
        __nv_bfloat16& v = s_x[(t * plan.n1p + rem / n2) * plan.ldx + rem % n2];
        v = __float2bfloat16_rn(__bfloat162float(v) * args.diag[rem]);
      }
      __syncthreads();
    }

    float acc[kNTiles][4];
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;

    // First product: Z_strip = (L^T)_strip X.
    if (active) {
      const __nv_bfloat16* xs = s_x + t_local * plan.n1p * plan.ldx;
      for (int kk = 0; kk < plan.n1p; kk += 16) {
        uint32_t a[4];
        ldmatrix_x4(a, s_lt + (strip * 16 + (ld_mat & 1) * 8 + ld_row) * plan.ldl + kk + (ld_mat >> 1) * 8);
#pragma unroll
        for (int j = 0; j < kNTiles; j += 2) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, xs + (kk + (ld_mat & 1) * 8 + ld_row) * plan.ldx + (j + (ld_mat >> 1)) * 8);
          mma_bf16_m16n8k16(acc[j], a, b[0], b[1]);
          mma_bf16_m16n8k16(acc[j + 1], a, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // X consumed: fetch the next group behind the second product
    if (g + gridDim.x < groups) load_group(g + gridDim.x);

    // Second product: Y_strip = Z_strip R, with Z_strip's accumulators reused as bf16 A fragments (the
    // m16n8 accumulator layout of two adjacent tiles is the m16k16 A layout).
    if (active && has_right) {
      uint32_t z[kKTiles2][4];
#pragma unroll
      for (int kt = 0; kt < kKTiles2; ++kt) {
        z[kt][0] = pack_bf16x2(acc[2 * kt][0], acc[2 * kt][1]);
        z[kt][1] = pack_bf16x2(acc[2 * kt][2], acc[2 * kt][3]);
        z[kt][2] = pack_bf16x2(acc[2 * kt + 1][0], acc[2 * kt + 1][1]);
        z[kt][3] = pack_bf16x2(acc[2 * kt + 1][2], acc[2 * kt + 1][3]);
      }
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
#pragma unroll
      for (int kt = 0; kt < kKTiles2; ++kt) {
#pragma unroll
        for (int j = 0; j < kNTiles; j += 2) {
          uint32_t b[4];
          ldmatrix_x4_trans(b, s_r + (kt * 16 + (ld_mat & 1) * 8 + ld_row) * plan.ldx + (j + (ld_mat >> 1)) * 8);
          mma_bf16_m16n8k16(acc[j], z[kt], b[0], b[1]);
          mma_bf16_m16n8k16(acc[j + 1], z[kt], b[2], b[3]);
        }
      }
    }

    // Per-token max/min: padding rows and columns hold exact zeros, which the quantizer includes anyway.
    float row_max = 0.0f, row_min = 0.0f;
#pragma unroll
    for (int j = 0; j < kNTiles; ++j) {
#pragma unroll
      for (int q = 0; q < 4; ++q) row_max = fmaxf(row_max, acc[j][q]), row_min = fminf(row_min, acc[j][q]);
    }
    row_max = warp_max(row_max);
    row_min = warp_min(row_min);
    if (lane == 0) {
      s_red[2 * warp] = row_max;
      s_red[2 * warp + 1] = row_min;
    }
    __syncthreads();

    if (active && t_local < valid) {
      float token_max = s_red[2 * t_local * plan.strips];
      float token_min = s_red[2 * t_local * plan.strips + 1];
      for (int s = 1; s < plan.strips; ++s) {
        token_max = fmaxf(token_max, s_red[2 * (t_local * plan.strips + s)]);
        token_min = fminf(token_min, s_red[2 * (t_local * plan.strips + s) + 1]);
      }
      const TokenQuantParams qp = token_quant_params(token_max, token_min, args.cfg);
      uint8_t* out = s_out + t_local * plan.out_bytes;
      with_int4_coder(qp, [&](const auto& code) {
#pragma unroll
        for (int j = 0; j < kNTiles; ++j) {
          const int col = j * 8 + frag_col;
#pragma unroll
          for (int h = 0; h < 2; ++h) {
            const int row = strip * 16 + frag_row + 8 * h;
            if (row < n1 && col < n2) {
              out[(row * n2 + col) / 2] = static_cast<uint8_t>(int4_pair(code(acc[j][2 * h]), code(acc[j][2 * h + 1])));
            }
          }
        }
      });
      if (strip == 0 && lane == 0) {
        args.scale[first + t_local] = qp.scale;
        if (args.zero != nullptr) args.zero[first + t_local] = qp.zero;
      }
    }
    __syncthreads();

    // The group's tokens are consecutive rows: one contiguous range of packed bytes.
    const int bytes = valid * plan.out_bytes;
    uint8_t* dst = args.packed + first * plan.out_bytes;
    if (plan.out_bytes % 16 == 0) {
      for (int i = tid; i < bytes / 16; i += kThreads)
        reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(s_out)[i];
    } else {
      for (int i = tid; i < bytes / 4; i += kThreads)
        reinterpret_cast<uint32_t*>(dst)[i] = reinterpret_cast<const uint32_t*>(s_out)[i];
    }
  }
}

int padded_n2(int64_t n2) { return static_cast<int>(ceil_div(n2, 16) * 16); }

template <int N2P>
void launch_for(const KronQuantArgs& args, cudaStream_t stream) {
  const auto kernel = kron_transform_quant_kernel<N2P>;
  static const int smem_limit = [&] {
    const int limit = max_optin_smem();
    FQ_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, limit));
    return limit;
  }();
  const Plan plan = make_plan(args.n1, args.n2, N2P, args.right != nullptr);
  FQ_CHECK(plan.total_bytes <= smem_limit, "launch_kron_transform_quant: ", plan.total_bytes,
           " bytes of shared memory needed, the device allows ", smem_limit);
  const int per_sm = resident_blocks_per_sm(reinterpret_cast<const void*>(kernel), kThreads, plan.total_bytes);
  const int64_t groups = ceil_div(args.rows, plan.tokens);
  const int grid = static_cast<int>(std::min<int64_t>(groups, int64_t{current_sm_count()} * per_sm));
  kernel<<<grid, kThreads, plan.total_bytes, stream>>>(args);
  FQ_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool kron_transform_quant_mma_sync_supported(int64_t n1, int64_t n2, bool has_left, bool has_right) {
  if (!fused_sizes_in_range(n1, n2, has_left)) return false;
  const Plan plan = make_plan(static_cast<int>(n1), static_cast<int>(n2), padded_n2(n2), has_right);
  return plan.total_bytes <= max_optin_smem();
}

void launch_kron_transform_quant_mma_sync(const KronQuantArgs& args, cudaStream_t stream) {
  with_padded_n2(padded_n2(args.n2), [&](auto n2p) { launch_for<decltype(n2p)::value>(args, stream); });
}

bool kron_transform_quant_supported(int64_t n1, int64_t n2, bool has_left, bool has_right, KronQuantKernel kernel) {
  switch (kernel) {
    case KronQuantKernel::kMmaSync: return kron_transform_quant_mma_sync_supported(n1, n2, has_left, has_right);
    case KronQuantKernel::kWgmma: return kron_transform_quant_wgmma_supported(n1, n2, has_left, has_right);
    case KronQuantKernel::kAuto: break;
  }
  return kron_transform_quant_wgmma_supported(n1, n2, has_left, has_right) ||
         kron_transform_quant_mma_sync_supported(n1, n2, has_left, has_right);
}

// wgmma where n1 > 32: for n1 <= 32 its 64-row warpgroup tiles are at least half padding, and on the H100 it
// was slower there (DeepSeek V3 q_b_proj, 32 x 48: 70 vs 50 us at 8192 tokens).
KronQuantKernel kron_transform_quant_auto_choice(int64_t n1, int64_t n2, bool has_left, bool has_right) {
  return n1 > 32 && kron_transform_quant_wgmma_supported(n1, n2, has_left, has_right) ? KronQuantKernel::kWgmma
                                                                                       : KronQuantKernel::kMmaSync;
}

void launch_kron_transform_quant(const KronQuantArgs& args, KronQuantKernel kernel, cudaStream_t stream) {
  FQ_CHECK(args.cfg.bits == 4, "launch_kron_transform_quant: the fused kernel quantizes to 4 bits, got ",
           args.cfg.bits);
  const bool has_left = args.left != nullptr;
  const bool has_right = args.right != nullptr;
  if (kernel == KronQuantKernel::kAuto) kernel = kron_transform_quant_auto_choice(args.n1, args.n2, has_left, has_right);
  FQ_CHECK(kron_transform_quant_supported(args.n1, args.n2, has_left, has_right, kernel),
           "launch_kron_transform_quant: factor sizes n1 = ", args.n1, ", n2 = ", args.n2, " are outside the ",
           kernel == KronQuantKernel::kWgmma ? "wgmma" : "mma.sync", " kernel's range (2 <= n1 <= ", kFusedMaxN1,
           ", n2 % 8 == 0, n2 <= ", kFusedMaxN2, ", L present", kernel == KronQuantKernel::kWgmma ? ", an sm_90a device" : "",
           ")");
  FQ_CHECK((args.cfg.symmetric && args.zero == nullptr) || (!args.cfg.symmetric && args.zero != nullptr),
           "launch_kron_transform_quant: a zero-point buffer is needed exactly when asymmetric");
  FQ_CHECK(reinterpret_cast<uintptr_t>(args.x) % 16 == 0 && reinterpret_cast<uintptr_t>(args.packed) % 16 == 0,
           "launch_kron_transform_quant: x and packed must be 16-byte aligned");
  if (args.rows == 0) return;
  if (kernel == KronQuantKernel::kWgmma) {
    launch_kron_transform_quant_wgmma(args, stream);
  } else {
    launch_kron_transform_quant_mma_sync(args, stream);
  }
}

}  // namespace fq::kernels::gpu
