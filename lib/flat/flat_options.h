// What FlatQuant does to one decoder layer: quantizer specs, which parameters exist and are trained, and
// the MoE variants. Filled by the pipeline from its config; lib/flat knows no config file.
#pragma once

#include <c10/core/ScalarType.h>

#include "lib/quant/quant_spec.h"
#include "lib/quant/quantized_linear.h"
#include "lib/quant/transform_factor.h"

namespace fq::flat {

struct FlatOptions {
  quant::LinearQuantOptions linear;  // weight / activation specs of every linear, LWC, LAC
  quant::QuantSpec q_cache{16, false, 0};  // LLaMA query quantization (after the K transform)
  quant::QuantSpec k_cache{16, true, 128};
  quant::QuantSpec v_cache{16, true, 128};
  // The learned transforms exist (the reference creates them whenever weights or activations are quantized;
  // off: plain quantizers with clipping only).
  bool transforms = true;
  bool learn_transforms = true;  // train the transform factors (off: they stay at their random init)
  bool diag_scale = true;        // a per-channel scale before each Kronecker transform
  quant::TransformParam param = quant::TransformParam::kOrthogonal;
  bool per_expert_down_transform = false;  // routed down transform per expert (the reference shares one)
  bool per_expert_act_quantizers = false;  // routed-expert activation clipping per expert
  c10::ScalarType param_dtype = c10::kFloat;
};

}  // namespace fq::flat
