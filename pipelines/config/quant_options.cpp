#include "pipelines/config/quant_options.h"

#include "lib/tensor/dtype.h"

namespace fq::pipelines {

flat::FlatOptions flat_options(const RunConfig& c) {
  flat::FlatOptions o;
  const QuantConfig& q = c.quant;
  o.linear.weight = {static_cast<int>(q.w_bits), !q.w_asym, 0};
  o.linear.act = {static_cast<int>(q.a_bits), !q.a_asym, 0};
  o.linear.lwc = c.flatquant.lwc;
  o.linear.lac = c.flatquant.lac;
  o.q_cache = {static_cast<int>(q.q_bits), !q.q_asym, 0};
  o.k_cache = {static_cast<int>(q.k_bits), !q.k_asym, q.k_groupsize};
  o.v_cache = {static_cast<int>(q.v_bits), !q.v_asym, q.v_groupsize};
  o.learn_transforms = c.flatquant.learn_transforms;
  o.diag_scale = c.flatquant.diag_scale;
  o.param = c.flatquant.direct_inverse ? quant::TransformParam::kDirectInverse : quant::TransformParam::kOrthogonal;
  o.per_expert_down_transform = c.moe.routed_down_transform == "per_expert";
  o.per_expert_act_quantizers = c.moe.expert_act_quantizers == "per_expert";
  return o;
}

flat::FrozenQuantOptions frozen_options(const QuantConfig& q) {
  flat::FrozenQuantOptions o;
  o.weight = {static_cast<int>(q.w_bits), !q.w_asym, 0};
  o.act = {static_cast<int>(q.a_bits), !q.a_asym, 0};
  o.q_cache = {static_cast<int>(q.q_bits), !q.q_asym, 0};
  o.k_cache = {static_cast<int>(q.k_bits), !q.k_asym, q.k_groupsize};
  o.v_cache = {static_cast<int>(q.v_bits), !q.v_asym, q.v_groupsize};
  o.weight_mse = q.w_mse;
  return o;
}

c10::ScalarType compute_dtype(const RunConfig& c) {
  return parse_float_dtype(c.flatquant.compute_dtype, "config key 'flatquant.compute_dtype'");
}

c10::ScalarType activation_dtype(const RunConfig& c) {
  return parse_float_dtype(c.flatquant.activation_dtype, "config key 'flatquant.activation_dtype'");
}

c10::ScalarType target_dtype(const RunConfig& c) {
  return parse_float_dtype(c.flatquant.target_dtype, "config key 'flatquant.target_dtype'");
}

}  // namespace fq::pipelines
