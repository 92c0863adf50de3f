// Quantized rows in the packed int4 format (kernels/int4_pack.h) with their per-row parameters: the
// output of activation quantization, the A operand of the W4A4 GEMM, and one KV-cache block.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace fq::kernels {

struct PackedInt4Rows {
  at::Tensor packed;  // uint8 [rows, cols / 2]
  at::Tensor scale;   // float32 [rows]
  at::Tensor zero;    // float32 [rows] (integer-valued) when asymmetric; undefined when symmetric
  int64_t cols = 0;   // the unpacked row length
  bool symmetric = true;

  int64_t rows() const { return packed.size(0); }
};

}  // namespace fq::kernels
