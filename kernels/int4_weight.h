// Weights of a W4A4 linear (or of all routed experts of a MoE layer) in the packed int4 format, with
// what the GEMM epilogue needs. Built once when a quantized model is loaded.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace fq::kernels {

struct Int4Weight {
  at::Tensor packed;  // uint8 [N, K/2] (one linear, [out, in]) or [E, N, K/2] (E stacked experts); symmetric codes
  at::Tensor scale;   // float32 [N] or [E, N]: per-output-channel scale
  at::Tensor rowsum;  // int32 [N] or [E, N]: sum over k of the codes, for the zero point of asymmetric activations
  int64_t in_features = 0;  // K

  bool stacked() const { return packed.dim() == 3; }
  int64_t experts() const { return stacked() ? packed.size(0) : 1; }
  int64_t out_features() const { return packed.size(-2); }
};

// codes: integer [N, K] or [E, N, K] with values in -8..7 (RTN/GPTQ output); scale: float32 [N] or [E, N].
// Works on any device (ATen ops). Throws fq::Error naming the tensor on a shape, dtype or range mismatch.
Int4Weight make_int4_weight(const at::Tensor& codes, const at::Tensor& scale);

// Throws fq::Error unless `w` is consistent (shapes, dtypes, one device). `op` names the caller.
void check_int4_weight(const Int4Weight& w, const char* op);

}  // namespace fq::kernels
