// The weight side of a quantized linear during calibration: learnable clipping (optional) followed by
// per-output-channel fake quantization, differentiable w.r.t. the weight and the clip factors.
//
// On the CPU it is the ATen composition clip_rows + fake_quantize_weight (the reference numerics, which
// autograd differentiates). On CUDA, per-row specs run the fused kernels of kernels/weight_clip_quant_ops.h
// instead (one custom autograd node, forward bit-identical to the composition, backward its analytic
// gradient): the composition makes ~15 elementwise float32 passes over the weight in each direction, which
// for the 11 B routed-expert weights of a DeepSeek V3 MoE layer was most of a calibration step.
#pragma once

#include <ATen/core/Tensor.h>

#include "lib/quant/fake_quant.h"
#include "lib/quant/quant_spec.h"

namespace fq::quant {

// w [..., in]; clip: factors [..., 1] (sigmoids of the LWC logits), or undefined (no LWC). Identity when
// !spec.enabled().
at::Tensor clip_and_fake_quantize_weight(const at::Tensor& w, const ClipFactors& clip, const QuantSpec& spec);

// Whether clip_and_fake_quantize_weight runs the fused kernels for these operands.
bool fused_weight_quant_applies(const at::Tensor& w, const QuantSpec& spec);

}  // namespace fq::quant
