// Per-token (per-row) activation quantization: the one formula that the CPU reference, the CUDA kernels
// and the fused transform kernel all evaluate (ALGORITHM.md "Quantizers"; LAC clipping factors are applied
// to the row max/min). Compiled for host and device so that both sides run literally the same float32
// operations: the GPU/CPU tests then demand bit equality wherever the inputs are equal.
//
// NOTES: keep every operation a single IEEE float32 op (no fused multiply-add, no reciprocal): `v / scale`
// is a true division on both sides (nvcc's default -prec-div=true; host SSE divss).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define FQ_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define FQ_HOST_DEVICE inline
#endif

namespace fq::kernels {

// How one activation row is quantized. clip_max / clip_min are the learned LAC factors after the
// sigmoid, in (0, 1]; 1.0 means no clipping.
struct TokenQuantConfig {
  int bits = 4;            // 2..8 in the references; the packed int4 kernels need 4
  bool symmetric = true;   // symmetric: signed codes, no zero point; asymmetric: unsigned codes + zero
  float clip_max = 1.0f;
  float clip_min = 1.0f;
};

// Throws fq::Error naming `where` unless 2 <= bits <= 8 and both clip factors lie in (0, 1].
void check_token_quant_config(const TokenQuantConfig& cfg, const char* where);

// Scale, zero point and code range of one row.
struct TokenQuantParams {
  float scale;
  float zero;  // 0 for symmetric
  float qmin;
  float qmax;
};

// `row_max` / `row_min` are the plain max and min of the row (any sign).
FQ_HOST_DEVICE TokenQuantParams token_quant_params(float row_max, float row_min, const TokenQuantConfig& cfg) {
  float xmax = fmaxf(row_max, 0.0f) * cfg.clip_max;
  float xmin = fminf(row_min, 0.0f) * cfg.clip_min;
  TokenQuantParams p;
  if (cfg.symmetric) {
    const float qmax = static_cast<float>((1 << (cfg.bits - 1)) - 1);
    float s = fmaxf(fabsf(xmin), xmax) / qmax;
    if (s == 0.0f) s = 1.0f;  // an all-zero row
    p.scale = s;
    p.zero = 0.0f;
    p.qmin = -qmax - 1.0f;
    p.qmax = qmax;
  } else {
    if (xmin == 0.0f && xmax == 0.0f) {
      xmin = -1.0f;
      xmax = 1.0f;
    }
    const float qmax = static_cast<float>((1 << cfg.bits) - 1);
    const float s = (xmax - xmin) / qmax;
    p.scale = s;
    p.zero = rintf(-xmin / s);
    p.qmin = 0.0f;
    p.qmax = qmax;
  }
  return p;
}

// rint rounds half to even, as torch.round does.
FQ_HOST_DEVICE int quantize_value(float v, const TokenQuantParams& p) {
  const float q = rintf(v / p.scale) + p.zero;
  return static_cast<int>(fminf(fmaxf(q, p.qmin), p.qmax));
}

FQ_HOST_DEVICE float dequantize_value(int code, const TokenQuantParams& p) {
  return p.scale * (static_cast<float>(code) - p.zero);
}

}  // namespace fq::kernels
