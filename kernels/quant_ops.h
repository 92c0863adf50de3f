// at::Tensor entry points of activation and KV-cache quantization. Each dispatches on the device of its
// input: CPU tensors run the ATen references (kernels/cpu/), CUDA tensors the kernels of kernels/cuda/ on
// the current stream. Shapes and dtypes are checked first; errors name the tensor, expected and actual.
#pragma once

#include <ATen/core/Tensor.h>

#include "kernels/kron_transform.h"
#include "kernels/packed_int4.h"
#include "kernels/token_quant.h"

namespace fq::kernels {

// x: floating-point [..., n] (rows = all leading dimensions), n % 8 == 0 on CUDA. Per-row int4
// quantization (cfg.bits must be 4). Same codes and scales on both devices, bit for bit.
PackedInt4Rows quantize_rows_int4(const at::Tensor& x, const TokenQuantConfig& cfg);

// Which fused transform + quantize kernel runs on CUDA. kAuto: wgmma on Hopper (sm_90a) devices for n1 > 32,
// mma.sync otherwise; naming one makes it run or fail (tests and benchmarks compare the two).
enum class FusedKernel { kAuto, kMmaSync, kWgmma };

// The online transform of a linear group's input followed by per-row int4 quantization: x [..., n] with
// n == n1 * n2. On CUDA, precision kBf16 with bf16 x and supported factor sizes (see
// gpu::kron_transform_quant_supported: L present, n1 <= 128, n2 % 8 == 0, n2 <= 224) runs a fused kernel;
// every other case runs the ATen transform (cuBLAS) and the quantization kernel (an explicitly named fused
// kernel that cannot run is an error instead).
PackedInt4Rows kron_transform_quantize(const at::Tensor& x, const KronTransform& t, const TokenQuantConfig& cfg,
                                       TransformPrecision precision, FusedKernel kernel = FusedKernel::kAuto);

// Dequantized rows [rows, cols] in `dtype` (float32 or bfloat16 on CUDA; any floating type on the CPU).
at::Tensor dequantize_rows_int4(const PackedInt4Rows& q, at::ScalarType dtype);

// The KV-cache quantizer of W4A4KV4 evaluation: asymmetric 4-bit, one group per (token, head).
TokenQuantConfig kv_cache_quant_config();

// kv: [..., heads, head_dim] -> one packed row of head_dim codes per (token, head).
PackedInt4Rows kv_cache_quantize(const at::Tensor& kv, const TokenQuantConfig& cfg = kv_cache_quant_config());

// Inverse of kv_cache_quantize: [..., heads, head_dim] with `shape` the original kv shape.
at::Tensor kv_cache_dequantize(const PackedInt4Rows& q, at::IntArrayRef shape, at::ScalarType dtype);

}  // namespace fq::kernels
