// RMSNorm as Hugging Face computes it for LLaMA and DeepSeek V3 (REFERENCE.md section 5).
#pragma once

#include <ATen/core/Tensor.h>

namespace fq::model {

// x: [..., n] in the compute dtype, weight: [n] in the compute dtype. The statistics are taken in float32,
// the normalised activations are cast back to x's dtype, THEN multiplied by the weight (so the product
// rounds once, in the compute dtype, exactly as the reference does).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

}  // namespace fq::model
