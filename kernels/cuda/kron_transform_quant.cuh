// Fused online Kronecker transform + per-token int4 quantization of bf16 activations (one pass over the
// rows): y = L^T (x * d) R per row viewed as [n1, n2], then the quantizer of kernels/token_quant.h, written
// as packed int4 + scale (+ zero). Precision: TransformPrecision::kBf16 of kernels/kron_transform.h (bf16
// tensor-core products, float32 accumulation).
#pragma once

#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/token_quant.h"
#include "lib/core/error.h"

namespace fq::kernels::gpu {

struct KronQuantArgs {
  const __nv_bfloat16* x = nullptr;  // [rows, n1 * n2], 16-byte aligned
  const float* left = nullptr;       // L [n1, n1], required
  const float* right = nullptr;      // R [n2, n2] or nullptr (identity)
  const float* diag = nullptr;       // d [n1 * n2] or nullptr
  int64_t rows = 0;
  int n1 = 0;
  int n2 = 0;
  TokenQuantConfig cfg;              // bits must be 4
  uint8_t* packed = nullptr;         // [rows, n1 * n2 / 2]
  float* scale = nullptr;            // [rows]
  float* zero = nullptr;             // [rows] when asymmetric, else nullptr
};

// The factor sizes both fused kernels take: 2 <= n1 <= 128, 8 <= n2 <= 224 with n2 % 8 == 0 (a row of R and
// of X splits into 16-byte chunks), and an L factor (R is optional).
constexpr int kFusedMaxN1 = 128;
constexpr int kFusedMaxN2 = 224;
inline bool fused_sizes_in_range(int64_t n1, int64_t n2, bool has_left) {
  return has_left && n1 >= 2 && n1 <= kFusedMaxN1 && n2 >= 8 && n2 <= kFusedMaxN2 && n2 % 8 == 0;
}

// Calls fn(std::integral_constant<int, N2P>) for n2p, a multiple of 16 in [16, kFusedMaxN2]: both kernels are
// instantiated per padded row length.
template <typename Fn>
void with_padded_n2(int n2p, Fn&& fn) {
  switch (n2p) {
    case 16: return fn(std::integral_constant<int, 16>{});
    case 32: return fn(std::integral_constant<int, 32>{});
    case 48: return fn(std::integral_constant<int, 48>{});
    case 64: return fn(std::integral_constant<int, 64>{});
    case 80: return fn(std::integral_constant<int, 80>{});
    case 96: return fn(std::integral_constant<int, 96>{});
    case 112: return fn(std::integral_constant<int, 112>{});
    case 128: return fn(std::integral_constant<int, 128>{});
    case 144: return fn(std::integral_constant<int, 144>{});
    case 160: return fn(std::integral_constant<int, 160>{});
    case 176: return fn(std::integral_constant<int, 176>{});
    case 192: return fn(std::integral_constant<int, 192>{});
    case 208: return fn(std::integral_constant<int, 208>{});
    case 224: return fn(std::integral_constant<int, 224>{});
    default: throw ::fq::Error(::fq::str("with_padded_n2: padded n2 = ", n2p, " passed the support check"));
  }
}
static_assert(kFusedMaxN2 == 224, "with_padded_n2 lists every padded n2 up to kFusedMaxN2");

// Which kernel runs. kAuto: wgmma on sm_90a devices for n1 > 32 (docs/BENCHMARKS.md), mma.sync otherwise.
enum class KronQuantKernel { kAuto, kMmaSync, kWgmma };

// Whether `kernel` (kAuto: either) handles these factor sizes on the current device (sizes in range, the
// shared memory fitting; wgmma: an sm_90a device); other shapes take the unfused path.
bool kron_transform_quant_supported(int64_t n1, int64_t n2, bool has_left, bool has_right,
                                    KronQuantKernel kernel = KronQuantKernel::kAuto);

// The kernel kAuto runs for these sizes (the caller has checked that a fused kernel supports them).
KronQuantKernel kron_transform_quant_auto_choice(int64_t n1, int64_t n2, bool has_left, bool has_right);

// Runs `kernel` (kAuto: as above); fq::Error when the chosen kernel cannot take the sizes.
void launch_kron_transform_quant(const KronQuantArgs& args, KronQuantKernel kernel, cudaStream_t stream);

// The individual kernels (kron_transform_quant.cu, kron_transform_quant_sm90.cu).
bool kron_transform_quant_mma_sync_supported(int64_t n1, int64_t n2, bool has_left, bool has_right);
void launch_kron_transform_quant_mma_sync(const KronQuantArgs& args, cudaStream_t stream);
bool kron_transform_quant_wgmma_supported(int64_t n1, int64_t n2, bool has_left, bool has_right);
void launch_kron_transform_quant_wgmma(const KronQuantArgs& args, cudaStream_t stream);

}  // namespace fq::kernels::gpu
