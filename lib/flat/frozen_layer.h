// A decoder layer evaluated with its calibrated FlatQuant parameters (or with none: plain round-to-
// nearest W4A4). The constructor folds, in float64, every diag scale into the preceding norm or linear
// (and the router, whose input the MoE diag would otherwise change), every weight-side transform and
// learned weight clip into the weights, and quantizes the weights (RTN or MSE grid); the hooks then apply
// the online activation transforms and per-token quantizers with the learned clipping.
//
// Weights are rewritten inside the caller's LayerWeights, so the model's own forward runs on them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/flat/flat_layer.h"
#include "lib/io/model_config.h"
#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"
#include "lib/quant/affine_transform.h"
#include "lib/quant/fake_quant.h"

namespace fq::flat {

struct FrozenQuantOptions {
  quant::QuantSpec weight{4, true, 0};
  quant::QuantSpec act{4, true, 0};
  quant::QuantSpec q_cache{16, false, 0};
  quant::QuantSpec k_cache{16, true, 128};
  quant::QuantSpec v_cache{16, true, 128};
  bool weight_mse = false;  // MSE-grid weight scales instead of plain RTN
};

class FrozenLayer : public model::LayerHooks {
 public:
  // `frozen`: the layer's tensors as FlatLayer::export_frozen() names them; empty = no transforms or
  // clipping (the round-to-nearest baseline). `weights` are folded and quantized in place.
  FrozenLayer(const io::ModelConfig& config, int64_t layer_index, model::LayerWeights& weights,
              const NamedTensors& frozen, const FrozenQuantOptions& options);

  at::Tensor group_input(model::LinearGroup group, const at::Tensor& x) override;
  at::Tensor linear(model::LinearSite site, const at::Tensor& x, const at::Tensor& weight) override;
  void query_key(at::Tensor& q, at::Tensor& k) override;
  at::Tensor value_cache(const at::Tensor& v) override;
  at::Tensor attention_output(const at::Tensor& attn) override;
  at::Tensor expert_linear(model::ExpertSite site, const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                           const at::Tensor& stacked_weight) override;
  at::Tensor expert_down_group_input(const at::Tensor& a_sorted, const std::vector<int64_t>& counts) override;

 private:
  const at::Tensor* find(const std::string& name) const;
  // The frozen group transform `prefix` (float64, diag included) or nullopt.
  std::optional<quant::TransformMatrices> transform(const std::string& prefix) const;
  quant::ClipFactors weight_clip(const std::string& name) const;
  quant::ClipFactors act_clip(const std::string& name, const at::Tensor& counts_hint = {}) const;
  // clip(fold(W)) -> RTN codes -> dequantized, in W's dtype.
  at::Tensor quantize_weight(const at::Tensor& w64) const;
  void fold_llama(model::LlamaLayerWeights& w);
  void fold_deepseek(model::DeepseekLayerWeights& w);
  void fold_mlp(model::GatedMlpWeights& mlp, const std::string& in_group, const std::string& down_group,
                model::LinearSite gate, model::LinearSite up, model::LinearSite down, at::Tensor* norm);
  // Online matrices (diag folded away) in the compute dtype, per group.
  void keep_online(model::LinearGroup group, const quant::TransformMatrices& m, c10::ScalarType dtype);

  const io::ModelConfig& config_;
  FrozenQuantOptions options_;
  bool llama_;
  std::map<std::string, at::Tensor> frozen_;
  std::map<model::LinearGroup, quant::TransformMatrices> online_;
  std::map<model::LinearSite, quant::ClipFactors> act_clips_;
  quant::TransformMatrices o_heads_, v_head_, k_head_;
  bool has_o_heads_ = false, has_v_head_ = false, has_k_head_ = false;
  quant::ClipFactors q_clip_, k_clip_, v_clip_;
  std::vector<quant::TransformMatrices> routed_down_;  // online, per expert or one shared
  at::Tensor expert_in_clip_, expert_down_clip_;      // [1, 2] or [E, 2]
};

}  // namespace fq::flat
