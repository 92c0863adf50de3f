// A decoder layer evaluated with its calibrated FlatQuant parameters (or with none: plain round-to-
// nearest W4A4). The constructor folds, in float64, every diag scale into the preceding norm or linear
// (and the router, whose input the MoE diag would otherwise change), every weight-side transform and
// learned weight clip into the weights, and quantizes the weights (RTN or MSE grid); the hooks then apply
// the online activation transforms and per-token quantizers with the learned clipping.
//
// Weights are rewritten inside the caller's LayerWeights, so the model's own forward runs on them. With
// the int4 backend a quantized linear's slot keeps only a meta-device placeholder of its shape: the
// weight lives packed in the layer (Int4Linear), and the online transforms move from group_input into
// each linear (kron_transform_quantize), since every consumer quantizes with its own clip factors.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "kernels/kron_transform.h"
#include "lib/flat/flat_layer.h"
#include "lib/flat/int4_linear.h"
#include "lib/io/model_config.h"
#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"
#include "lib/quant/affine_transform.h"
#include "lib/quant/fake_quant.h"

namespace fq::flat {

// Where the quantized linears run. kFake: fake-quantized float weights and activations through float
// GEMMs (the calibration's own arithmetic). kInt4: packed int4 weights and activations through the W4A4
// kernels; a linear they cannot take (int4_unsupported_reason) falls back to kFake with one log line.
enum class QuantBackend { kFake, kInt4 };

// Weight memory of a frozen layer's quantized linears (routed experts count once per projection).
struct WeightMemory {
  int64_t int4_bytes = 0;          // packed codes, scales and row sums of the linears held in int4
  int64_t int4_as_bf16_bytes = 0;  // the same weights in bf16
  int64_t int4_linears = 0;
  int64_t fake_linears = 0;        // held as fake-quantized floats (kFake, or fallbacks)

  WeightMemory& operator+=(const WeightMemory& o);
};

struct FrozenQuantOptions {
  quant::QuantSpec weight{4, true, 0};
  quant::QuantSpec act{4, true, 0};
  quant::QuantSpec q_cache{16, false, 0};
  quant::QuantSpec k_cache{16, true, 128};
  quant::QuantSpec v_cache{16, true, 128};
  bool weight_mse = false;  // MSE-grid weight scales instead of plain RTN
  QuantBackend backend = QuantBackend::kFake;
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

  const WeightMemory& weight_memory() const { return memory_; }

 private:
  bool int4() const { return options_.backend == QuantBackend::kInt4; }
  // Whether `name` [out, in] runs packed; logs the reason when the int4 backend must fall back.
  bool int4_ready(const std::string& name, int64_t in_features, int64_t out_features, c10::Device device) const;
  // The quantized form of the folded w64 [out, in]: packed (slot -> placeholder) or fake-quantized into slot.
  void store_weight(model::LinearSite site, at::Tensor& slot, const at::Tensor& w64);
  // Binds the packed linears to their input transforms and activation quantizers (known after folding).
  void bind_int4_inputs();
  // int4 backend: the online transform of `site`'s input, applied inside the linear; nullptr = none.
  const quant::TransformMatrices* deferred_transform(model::LinearSite site) const;
  at::Tensor routed_down_input(const at::Tensor& a_sorted, const std::vector<int64_t>& counts) const;
  // K/V cache quantization: kv_cache_quantize/dequantize when the int4 backend can, else fake.
  at::Tensor quantize_cache(const at::Tensor& t, const quant::QuantSpec& spec, const quant::ClipFactors& clip) const;
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
  int64_t layer_index_;
  FrozenQuantOptions options_;
  bool llama_;
  kernels::TransformPrecision precision_ = kernels::TransformPrecision::kFloat32;
  std::map<std::string, at::Tensor> frozen_;
  std::map<model::LinearGroup, quant::TransformMatrices> online_;
  std::map<model::LinearSite, quant::ClipFactors> act_clips_;
  quant::TransformMatrices o_heads_, v_head_, k_head_;
  bool has_o_heads_ = false, has_v_head_ = false, has_k_head_ = false;
  quant::ClipFactors q_clip_, k_clip_, v_clip_;
  std::vector<quant::TransformMatrices> routed_down_;  // online, per expert or one shared
  at::Tensor expert_in_clip_, expert_down_clip_;      // [1, 2] or [E, 2]

  std::map<model::LinearSite, Int4Linear> int4_;
  std::map<model::ExpertSite, Int4Experts> int4_experts_;
  quant::TransformMatrices o_heads_input_;  // int4: o_heads as the left factor over [H, head_dim]
  WeightMemory memory_;
};

}  // namespace fq::flat
