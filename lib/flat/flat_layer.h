// A decoder layer under FlatQuant calibration: trainable transforms, clipping and fake quantizers plugged
// into the model's forward through LayerHooks (lib/model/layer_hooks.h). One class serves LLaMA and
// DeepSeek V3 layers; which groups and sites exist follows the config and the layer index.
//
// Usage per optimisation step: refresh() (materialise this step's transform matrices once), then run
// the model's layer forward with this object as its hooks, compute the loss, step the optimizer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "lib/flat/expert_act_quantizer.h"
#include "lib/flat/expert_group.h"
#include "lib/flat/flat_options.h"
#include "lib/io/model_config.h"
#include "lib/model/layer_hooks.h"
#include "lib/quant/affine_transform.h"
#include "lib/quant/calibration_optimizer.h"
#include "lib/quant/quantized_linear.h"

namespace fq::flat {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

class FlatLayer : public model::LayerHooks {
 public:
  // Parameters are created on `device` in options.param_dtype, transforms initialised from `gen`. With an
  // active expert group, the per-expert parameters exist for the member's experts only (initialised as
  // with all experts: the same values whatever the split) and the routed shares are summed over the group.
  FlatLayer(const io::ModelConfig& config, int64_t layer_index, const FlatOptions& options, at::Generator& gen,
            c10::Device device, ExpertGroup expert_group = {});

  const ExpertGroup& expert_group() const { return group_; }
  // Expert parallelism, after backward and before the update: sums over the group the gradients of the
  // parameters only the routed experts use and every member shares (a shared routed down transform,
  // shared expert activation clips); each member saw only its share's contribution.
  void reduce_expert_shared_gradients();

  bool is_llama() const { return llama_; }
  bool is_moe() const { return moe_; }
  // The groups that carry a diag scale (SmoothQuant initialisation targets).
  std::vector<model::LinearGroup> diag_groups() const;
  bool has_routed_down_diag() const;
  // d = max|W|_col^(1-alpha) / max|x|_col^alpha for one group (or the routed down transform(s):
  // stats [n] or [E, n] over all E routed experts; per-expert transforms need [E, n]).
  void init_diag(model::LinearGroup group, const at::Tensor& weight_col_absmax, const at::Tensor& act_col_absmax,
                 double alpha);
  void init_routed_down_diag(const at::Tensor& weight_col_absmax, const at::Tensor& act_col_absmax, double alpha);

  // Materialises this step's transform matrices (differentiable); call before every forward.
  void refresh();

  quant::TrainableParameters trainable_parameters() const;
  // Every trainable tensor with a stable name (training-state checkpoints).
  NamedTensors named_parameters() const;
  // Frozen float64 matrices, squashed clip factors and quantizer facts, named as docs/ARTIFACT.md says.
  NamedTensors export_frozen() const;

  // LayerHooks
  at::Tensor group_input(model::LinearGroup group, const at::Tensor& x) override;
  at::Tensor linear(model::LinearSite site, const at::Tensor& x, const at::Tensor& weight) override;
  void query_key(at::Tensor& q, at::Tensor& k) override;
  at::Tensor value_cache(const at::Tensor& v) override;
  at::Tensor attention_output(const at::Tensor& attn) override;
  at::Tensor expert_linear(model::ExpertSite site, const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                           const at::Tensor& stacked_weight) override;
  at::Tensor expert_down_group_input(const at::Tensor& a_sorted, const std::vector<int64_t>& counts) override;
  void enter_routed_experts(at::Tensor& x, at::Tensor& routing_weights) override;
  at::Tensor combine_routed_experts(const at::Tensor& share_sum) override;

 private:
  void add_group(model::LinearGroup group, int64_t size, at::Generator& gen);
  void add_linear(model::LinearSite site, std::vector<int64_t> shape);
  const quant::TransformMatrices& matrices(model::LinearGroup group) const;

  FlatOptions options_;
  bool llama_ = false;
  bool moe_ = false;
  int64_t heads_ = 0;
  int64_t head_dim_ = 0;
  at::TensorOptions param_options_;

  std::map<model::LinearGroup, quant::AffineTransform> groups_;
  std::map<model::LinearGroup, quant::TransformMatrices> step_;
  std::map<model::LinearSite, quant::QuantizedLinear> linears_;

  // LLaMA per-head transforms and KV-cache quantizers.
  std::optional<quant::AffineTransform> o_heads_, v_head_, k_head_;
  quant::TransformMatrices o_heads_step_, v_head_step_, k_head_step_;
  std::unique_ptr<quant::ActivationQuantizer> q_cache_, k_cache_, v_cache_;

  // DeepSeek routed experts: experts_ held here (all, or the member's share of total_experts_).
  ExpertGroup group_;
  int64_t experts_ = 0;
  int64_t total_experts_ = 0;
  // This forward's tensors entering the routed share (expert parallelism, with gradients): the MoE-input
  // transform as the experts see it, and what group_combine ties to the loss.
  std::optional<quant::TransformMatrices> moe_in_for_experts_;
  std::vector<at::Tensor> entered_;
  std::vector<quant::AffineTransform> routed_down_;  // one (shared) or one per expert
  std::vector<quant::TransformMatrices> routed_down_step_;
  std::map<model::ExpertSite, quant::QuantizedLinear> expert_linears_;  // stacked [E, out, in] weight clips
  std::unique_ptr<ExpertActQuantizer> expert_in_act_;    // gate and up share one (as the reference)
  std::unique_ptr<ExpertActQuantizer> expert_down_act_;
};

}  // namespace fq::flat
