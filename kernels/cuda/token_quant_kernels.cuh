// Per-token int4 quantization and dequantization of rows (activations after an unfused transform, KV-cache
// groups of head_dim), matching kernels/cpu/per_token_quant_cpu bit for bit. Launchers take raw device
// pointers and a stream; the templates stay in the .cu.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/token_quant.h"

namespace fq::kernels::gpu {

enum class RowDType { kFloat32, kBFloat16 };

// y: [rows, n] (n % 8 == 0, 16-byte aligned) -> packed uint8 [rows, n/2], scale float32 [rows], zero
// float32 [rows] (asymmetric only; nullptr when symmetric). cfg.bits must be 4.
void launch_quantize_rows_int4(const void* y, RowDType dtype, int64_t rows, int64_t n, const TokenQuantConfig& cfg,
                               uint8_t* packed, float* scale, float* zero, cudaStream_t stream);

// packed uint8 [rows, n/2] (n % 8 == 0), scale [rows], zero [rows] or nullptr (symmetric) -> out [rows, n].
void launch_dequantize_rows_int4(const uint8_t* packed, const float* scale, const float* zero, int64_t rows,
                                 int64_t n, RowDType out_dtype, void* out, cudaStream_t stream);

}  // namespace fq::kernels::gpu
