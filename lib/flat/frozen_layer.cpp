#include "lib/flat/frozen_layer.h"

#include <tuple>

#include <ATen/ATen.h>

#include "kernels/quant_ops.h"
#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/flat/expert_act_quantizer.h"
#include "lib/flat/site_groups.h"
#include "lib/quant/learnable_clip.h"
#include "lib/quant/transform_folding.h"

namespace fq::flat {

using model::ExpertSite;
using model::LinearGroup;
using model::LinearSite;
using quant::TransformMatrices;

namespace {

TransformMatrices select_expert(const TransformMatrices& stacked, int64_t e) {
  TransformMatrices m;
  m.left = stacked.left.select(0, e);
  m.right = stacked.right.select(0, e);
  m.left_inv_t = stacked.left_inv_t.select(0, e);
  m.right_inv_t = stacked.right_inv_t.select(0, e);
  if (stacked.diag.defined()) m.diag = stacked.diag.select(0, e);
  return m;
}

TransformMatrices online_copy(const TransformMatrices& m, c10::ScalarType dtype, c10::Device device) {
  TransformMatrices out;
  auto cast = [&](const at::Tensor& t) { return t.defined() ? t.to(device, dtype) : t; };
  out.left = cast(m.left);
  out.right = cast(m.right);
  out.left_inv_t = cast(m.left_inv_t);
  out.right_inv_t = cast(m.right_inv_t);
  return out;  // the diag is folded into the preceding norm or linear
}

// What a slot keeps once its weight lives packed: the shape and dtype (the forward reads the expert count
// from it) without storage; any stray use fails on the device mismatch instead of computing garbage.
at::Tensor shape_placeholder(const at::Tensor& w) { return at::empty(w.sizes(), w.options().device(at::kMeta)); }

// The K/V quantizer's groups: group_size 0 (or wider than a head) means one group per (token, head).
quant::QuantSpec per_head_groups(quant::QuantSpec s, int64_t head_dim) {
  if (s.group_size == 0 || s.group_size > head_dim) s.group_size = head_dim;
  return s;
}

// The act-clip factor pairs [1, 2] or [E, 2] as kernel quantizer configs (one default when undefined).
std::vector<kernels::TokenQuantConfig> expert_act_configs(const quant::QuantSpec& act, const at::Tensor& clip) {
  if (!clip.defined()) return {token_quant_config(act, {})};
  std::vector<kernels::TokenQuantConfig> out;
  for (int64_t e = 0; e < clip.size(0); ++e) out.push_back(token_quant_config(act, {clip[e][0], clip[e][1]}));
  return out;
}

}  // namespace

WeightMemory& WeightMemory::operator+=(const WeightMemory& o) {
  int4_bytes += o.int4_bytes;
  int4_as_bf16_bytes += o.int4_as_bf16_bytes;
  int4_linears += o.int4_linears;
  fake_linears += o.fake_linears;
  return *this;
}

FrozenLayer::FrozenLayer(const io::ModelConfig& config, int64_t layer_index, model::LayerWeights& weights,
                         const NamedTensors& frozen, const FrozenQuantOptions& options)
    : config_(config), layer_index_(layer_index), options_(options),
      llama_(config.family == io::ModelFamily::kLlama) {
  // The artifact is read on the host; folding and the online transforms run where the weights are.
  const c10::Device device = std::visit([](const auto& w) { return w.input_norm.device(); }, weights);
  for (const auto& [name, t] : frozen) frozen_[name] = t.to(device);
  at::NoGradGuard no_grad;
  const c10::ScalarType dtype = llama_ ? std::get<model::LlamaLayerWeights>(weights).q.scalar_type()
                                       : std::get<model::DeepseekLayerWeights>(weights).attn.kv_a.scalar_type();
  // bf16 compute: the fused CUDA transform kernel's bf16 operands, as the fake path's bf16 matmuls.
  if (dtype == at::kBFloat16) precision_ = kernels::TransformPrecision::kBf16;
  if (llama_) {
    fold_llama(std::get<model::LlamaLayerWeights>(weights));
  } else {
    fold_deepseek(std::get<model::DeepseekLayerWeights>(weights));
  }
  if (int4()) bind_int4_inputs();
}

bool FrozenLayer::int4_ready(const std::string& name, int64_t in_features, int64_t out_features,
                             c10::Device device) const {
  if (!int4()) return false;
  const std::string why = int4_unsupported_reason(options_.weight, options_.act, in_features, out_features, device);
  if (why.empty()) return true;
  log::info("eval", "int4 backend: linear falls back to fake quantization",
            {{"layer", static_cast<long long>(layer_index_)}, {"linear", name}, {"reason", why}});
  return false;
}

void FrozenLayer::store_weight(LinearSite site, at::Tensor& slot, const at::Tensor& w64) {
  if (int4_ready(site_name(site), w64.size(1), w64.size(0), slot.device())) {
    Int4Linear packed(pack_weight_int4(w64, options_.weight, options_.weight_mse), precision_);
    memory_.int4_bytes += int4_weight_bytes(packed.weight());
    memory_.int4_as_bf16_bytes += w64.numel() * 2;
    ++memory_.int4_linears;
    int4_.emplace(site, std::move(packed));
    slot = shape_placeholder(slot);
    return;
  }
  slot = quantize_weight(w64).to(slot.scalar_type());
  ++memory_.fake_linears;
}

const TransformMatrices* FrozenLayer::deferred_transform(LinearSite site) const {
  if (llama_ && site == LinearSite::kO) return has_o_heads_ ? &o_heads_input_ : nullptr;
  const auto group = group_of(site, llama_);
  if (!group) return nullptr;
  auto it = online_.find(*group);
  return it == online_.end() ? nullptr : &it->second;
}

void FrozenLayer::bind_int4_inputs() {
  if (has_o_heads_) {
    // o_proj's input [H * d] mixes heads by o_heads only: L = o_heads, R = identity over head_dim.
    o_heads_input_.left = o_heads_.right;
    o_heads_input_.right = at::eye(config_.head_dim, o_heads_.right.options());
  }
  for (auto& [site, packed] : int4_) {
    const TransformMatrices* t = deferred_transform(site);
    auto clip = act_clips_.find(site);
    packed.bind_input(t ? kron_transform_of(*t) : kernels::KronTransform{},
                      token_quant_config(options_.act, clip == act_clips_.end() ? quant::ClipFactors{} : clip->second));
  }
  for (auto& [site, packed] : int4_experts_) {
    std::vector<kernels::KronTransform> transforms;
    if (site == ExpertSite::kDown) {
      for (const TransformMatrices& m : routed_down_) transforms.push_back(kron_transform_of(m));
    } else if (auto it = online_.find(LinearGroup::kMoeIn); it != online_.end()) {
      transforms.push_back(kron_transform_of(it->second));
    }
    packed.bind_input(std::move(transforms),
                      expert_act_configs(options_.act, site == ExpertSite::kDown ? expert_down_clip_ : expert_in_clip_));
  }
}

const at::Tensor* FrozenLayer::find(const std::string& name) const {
  auto it = frozen_.find(name);
  return it == frozen_.end() ? nullptr : &it->second;
}

std::optional<TransformMatrices> FrozenLayer::transform(const std::string& prefix) const {
  TransformMatrices m;
  if (const at::Tensor* r = find(prefix + ".right")) {
    const at::Tensor *l = find(prefix + ".left"), *li = find(prefix + ".left_inv_t"), *ri = find(prefix + ".right_inv_t");
    FQ_CHECK(l && li && ri, "transform '", prefix, "' is incomplete in the artifact");
    m.left = l->to(at::kDouble);
    m.right = r->to(at::kDouble);
    m.left_inv_t = li->to(at::kDouble);
    m.right_inv_t = ri->to(at::kDouble);
  } else if (const at::Tensor* s = find(prefix + ".matrix")) {
    const at::Tensor* si = find(prefix + ".matrix_inv_t");
    FQ_CHECK(si, "transform '", prefix, "' has no matrix_inv_t in the artifact");
    m.right = s->to(at::kDouble);
    m.right_inv_t = si->to(at::kDouble);
  } else {
    return std::nullopt;
  }
  if (const at::Tensor* d = find(prefix + ".diag")) m.diag = d->to(at::kDouble);
  return m;
}

quant::ClipFactors FrozenLayer::weight_clip(const std::string& name) const {
  const at::Tensor* t = find(name + ".weight_clip");
  if (!t) return {};
  at::Tensor c = t->to(at::kDouble);
  return {c.narrow(-1, 0, 1), c.narrow(-1, 1, 1)};
}

quant::ClipFactors FrozenLayer::act_clip(const std::string& name, const at::Tensor&) const {
  const at::Tensor* t = find(name + ".act_clip");
  if (!t) return {};
  at::Tensor c = t->to(at::kFloat);
  return {c.narrow(0, 0, 1), c.narrow(0, 1, 1)};
}

at::Tensor FrozenLayer::quantize_weight(const at::Tensor& w64) const {
  const quant::QuantSpec& spec = options_.weight;
  if (!spec.enabled()) return w64;
  quant::QuantParams p = options_.weight_mse ? quant::weight_quant_params_mse(w64, spec)
                                             : quant::weight_quant_params(w64, spec);
  return quant::fake_quantize_no_grad(w64, p, spec);
}

void FrozenLayer::keep_online(LinearGroup group, const TransformMatrices& m, c10::ScalarType dtype) {
  online_[group] = online_copy(m, dtype, m.right.device());
}

// gate/up consume `in_group`'s input, down consumes `down_group`'s; the down diag moves into up's rows and
// the input diag into `norm` (when the caller owns no other consumer of that norm).
void FrozenLayer::fold_mlp(model::GatedMlpWeights& mlp, const std::string& in_group, const std::string& down_group,
                           LinearSite gate, LinearSite up, LinearSite down, at::Tensor* norm) {
  const c10::ScalarType dtype = mlp.gate.scalar_type();
  const auto in = transform(in_group);
  const auto dn = transform(down_group);
  const TransformMatrices identity;
  auto fold = [&](const at::Tensor& w, const std::optional<TransformMatrices>& m, LinearSite site) {
    return m ? quant::fold_weight(w, *m, weight_clip(site_name(site))) : w.to(at::kDouble);
  };
  at::Tensor gate64 = fold(mlp.gate, in, gate);
  at::Tensor up64 = fold(mlp.up, in, up);
  at::Tensor down64 = fold(mlp.down, dn, down);
  if (dn && dn->diag.defined()) up64 = quant::fold_scale_into_rows(up64, dn->diag);
  if (norm && in && in->diag.defined()) *norm = quant::fold_scale_into_norm(*norm, in->diag).to(norm->scalar_type());
  store_weight(gate, mlp.gate, gate64);
  store_weight(up, mlp.up, up64);
  store_weight(down, mlp.down, down64);
  for (LinearSite s : {gate, up, down}) act_clips_[s] = act_clip(site_name(s));
  if (dn) keep_online(down_group == "down_in" ? LinearGroup::kDownIn : LinearGroup::kSharedDownIn, *dn, dtype);
}

void FrozenLayer::fold_llama(model::LlamaLayerWeights& w) {
  const c10::ScalarType dtype = w.q.scalar_type();
  const c10::Device device = w.q.device();
  const auto attn = transform("attn_in");
  auto fold = [&](const at::Tensor& weight, LinearSite site) {
    return attn ? quant::fold_weight(weight, *attn, weight_clip(site_name(site))) : weight.to(at::kDouble);
  };
  at::Tensor q64 = fold(w.q, LinearSite::kQ), k64 = fold(w.k, LinearSite::kK), v64 = fold(w.v, LinearSite::kV);
  if (auto v_head = transform("v_head")) {
    v_head_ = *v_head;
    has_v_head_ = true;
    v64 = quant::fold_output_transform(v64, v_head->right);
  }
  at::Tensor o64 = w.o.to(at::kDouble);
  if (auto o_heads = transform("o_heads")) {
    FQ_CHECK(has_v_head_, "artifact has o_heads but no v_head transform");
    o_heads_ = *o_heads;
    has_o_heads_ = true;
    o64 = quant::kronecker_apply(o64, o_heads->right_inv_t, v_head_.right_inv_t);
    quant::ClipFactors c = weight_clip("o_proj");
    if (c.max.defined()) o64 = quant::clip_rows(o64, c);
  }
  if (auto k_head = transform("k_head")) {
    k_head_ = online_copy(*k_head, dtype, device);
    has_k_head_ = true;
  }
  if (attn && attn->diag.defined()) w.input_norm = quant::fold_scale_into_norm(w.input_norm, attn->diag).to(dtype);
  if (attn) keep_online(LinearGroup::kAttnIn, *attn, dtype);
  store_weight(LinearSite::kQ, w.q, q64);
  store_weight(LinearSite::kK, w.k, k64);
  store_weight(LinearSite::kV, w.v, v64);
  store_weight(LinearSite::kO, w.o, o64);
  for (LinearSite s : {LinearSite::kQ, LinearSite::kK, LinearSite::kV, LinearSite::kO}) act_clips_[s] = act_clip(site_name(s));
  if (has_o_heads_) o_heads_ = online_copy(o_heads_, dtype, device);
  if (has_v_head_) v_head_ = online_copy(v_head_, dtype, device);
  q_clip_ = act_clip("q_cache");
  k_clip_ = act_clip("k_cache");
  v_clip_ = act_clip("v_cache");
  fold_mlp(w.mlp, "mlp_in", "down_in", LinearSite::kGate, LinearSite::kUp, LinearSite::kDown, &w.post_attention_norm);
  if (auto mlp_in = transform("mlp_in")) keep_online(LinearGroup::kMlpIn, *mlp_in, dtype);
}

void FrozenLayer::fold_deepseek(model::DeepseekLayerWeights& w) {
  model::MlaWeights& a = w.attn;
  const c10::ScalarType dtype = a.kv_a.scalar_type();
  auto fold_site = [&](at::Tensor& weight, const std::optional<TransformMatrices>& m, LinearSite site) {
    at::Tensor w64 = m ? quant::fold_weight(weight, *m, weight_clip(site_name(site))) : weight.to(at::kDouble);
    store_weight(site, weight, w64);
    act_clips_[site] = act_clip(site_name(site));
  };
  const auto attn = transform("attn_in");
  if (config_.q_lora_rank > 0) {
    fold_site(a.q_a, attn, LinearSite::kQA);
    const auto qb = transform("qb_in");
    fold_site(a.q_b, qb, LinearSite::kQB);
    if (qb && qb->diag.defined()) a.q_a_norm = quant::fold_scale_into_norm(a.q_a_norm, qb->diag).to(dtype);
    if (qb) keep_online(LinearGroup::kQbIn, *qb, dtype);
  } else {
    fold_site(a.q, attn, LinearSite::kQ);
  }
  fold_site(a.kv_a, attn, LinearSite::kKVA);
  if (attn && attn->diag.defined()) w.input_norm = quant::fold_scale_into_norm(w.input_norm, attn->diag).to(dtype);
  if (attn) keep_online(LinearGroup::kAttnIn, *attn, dtype);

  const auto o_in = transform("o_in");
  fold_site(a.o, o_in, LinearSite::kO);
  if (o_in && o_in->diag.defined()) {
    // The o_proj input is the per-head V output [H, v]: its diag scales kv_b's V rows of each head.
    const int64_t heads = config_.num_attention_heads, nope = config_.qk_nope_head_dim, v = config_.v_head_dim;
    at::Tensor kv_b = a.kv_b.to(at::kDouble).reshape({heads, nope + v, -1});
    at::Tensor scale = at::ones({heads, nope + v}, kv_b.options());
    scale.narrow(1, nope, v).copy_(o_in->diag.reshape({heads, v}));
    a.kv_b = (kv_b * scale.unsqueeze(-1)).reshape(a.kv_b.sizes()).to(dtype);
  }
  if (o_in) keep_online(LinearGroup::kOIn, *o_in, dtype);

  if (w.dense) {
    fold_mlp(*w.dense, "mlp_in", "down_in", LinearSite::kGate, LinearSite::kUp, LinearSite::kDown,
             &w.post_attention_norm);
    if (auto mlp_in = transform("mlp_in")) keep_online(LinearGroup::kMlpIn, *mlp_in, dtype);
    return;
  }
  model::MoeWeights& moe = *w.moe;
  const auto moe_in = transform("moe_in");
  if (moe.shared) {
    fold_mlp(*moe.shared, "moe_in", "shared_down_in", LinearSite::kSharedGate, LinearSite::kSharedUp,
             LinearSite::kSharedDown, nullptr);
  }
  // Routed experts, one expert at a time: a whole MoE layer in float64 would not fit anywhere.
  const auto down = transform("routed_down_in");
  const bool per_expert_down = down && down->right.dim() == 3;
  const quant::ClipFactors gate_clip = weight_clip("experts.gate_proj"), up_clip = weight_clip("experts.up_proj"),
                           down_clip = weight_clip("experts.down_proj");
  auto expert_clip = [](const quant::ClipFactors& c, int64_t e) {
    return c.max.defined() ? quant::ClipFactors{c.max[e], c.min[e]} : quant::ClipFactors{};
  };
  const int64_t experts = moe.gate.size(0);
  // int4: each projection packed expert by expert, stacked [E, out, in/2] after the loop.
  const c10::Device device = moe.gate.device();
  const bool gate_int4 = int4_ready("experts.gate_proj", moe.gate.size(2), moe.gate.size(1), device);
  const bool up_int4 = int4_ready("experts.up_proj", moe.up.size(2), moe.up.size(1), device);
  const bool down_int4 = int4_ready("experts.down_proj", moe.down.size(2), moe.down.size(1), device);
  std::vector<kernels::Int4Weight> gate_packed, up_packed, down_packed;
  auto store_expert = [&](bool packed, std::vector<kernels::Int4Weight>& out, const at::Tensor& stacked, int64_t e,
                          const at::Tensor& w64) {
    if (packed) {
      out.push_back(pack_weight_int4(w64, options_.weight, options_.weight_mse));
    } else {
      stacked[e].copy_(quantize_weight(w64));
    }
  };
  for (int64_t e = 0; e < experts; ++e) {
    at::Tensor gate64 = moe_in ? quant::fold_weight(moe.gate[e], *moe_in, expert_clip(gate_clip, e))
                               : moe.gate[e].to(at::kDouble);
    at::Tensor up64 = moe_in ? quant::fold_weight(moe.up[e], *moe_in, expert_clip(up_clip, e))
                             : moe.up[e].to(at::kDouble);
    at::Tensor down64 = moe.down[e].to(at::kDouble);
    if (down) {
      const TransformMatrices m = per_expert_down ? select_expert(*down, e) : *down;
      down64 = quant::fold_weight(moe.down[e], m, expert_clip(down_clip, e));
      if (m.diag.defined()) up64 = quant::fold_scale_into_rows(up64, m.diag);
      if (e == 0 || per_expert_down) routed_down_.push_back(online_copy(m, dtype, moe.down.device()));
    }
    store_expert(gate_int4, gate_packed, moe.gate, e, gate64);
    store_expert(up_int4, up_packed, moe.up, e, up64);
    store_expert(down_int4, down_packed, moe.down, e, down64);
  }
  for (auto [site, packed, slot] : {std::tuple{ExpertSite::kGate, &gate_packed, &moe.gate},
                                    std::tuple{ExpertSite::kUp, &up_packed, &moe.up},
                                    std::tuple{ExpertSite::kDown, &down_packed, &moe.down}}) {
    if (packed->empty()) {
      ++memory_.fake_linears;
      continue;
    }
    Int4Experts stacked(stack_int4_weights(*packed), precision_);
    memory_.int4_bytes += int4_weight_bytes(stacked.weight());
    memory_.int4_as_bf16_bytes += slot->numel() * 2;
    ++memory_.int4_linears;
    int4_experts_.emplace(site, std::move(stacked));
    packed->clear();
    *slot = shape_placeholder(*slot);
  }
  if (moe_in && moe_in->diag.defined()) {
    // The MoE diag moves into post_attention_layernorm, which the router reads too: its columns take 1/d.
    w.post_attention_norm = quant::fold_scale_into_norm(w.post_attention_norm, moe_in->diag).to(dtype);
    moe.router = (moe.router.to(at::kDouble) / moe_in->diag.unsqueeze(0)).to(moe.router.scalar_type());
  }
  if (moe_in) keep_online(LinearGroup::kMoeIn, *moe_in, dtype);
  if (const at::Tensor* c = find("experts.in.act_clip")) expert_in_clip_ = c->to(at::kFloat);
  if (const at::Tensor* c = find("experts.down.act_clip")) expert_down_clip_ = c->to(at::kFloat);
}

at::Tensor FrozenLayer::group_input(LinearGroup group, const at::Tensor& x) {
  if (int4()) return x;  // each linear applies the transform itself (deferred_transform)
  auto it = online_.find(group);
  return it == online_.end() ? x : it->second.apply(x);
}

at::Tensor FrozenLayer::linear(LinearSite site, const at::Tensor& x, const at::Tensor& weight) {
  if (site == LinearSite::kKVB) return at::linear(x, weight);
  at::Tensor input = x;
  if (int4()) {
    if (auto packed = int4_.find(site); packed != int4_.end()) return packed->second(x);
    if (const TransformMatrices* t = deferred_transform(site)) input = t->apply(x);
  }
  auto it = act_clips_.find(site);
  const quant::ClipFactors clip = it == act_clips_.end() ? quant::ClipFactors{} : it->second;
  at::Tensor xq = quant::fake_quantize_activation(input, options_.act, clip);
  return at::linear(xq, weight.to(xq.scalar_type()));
}

void FrozenLayer::query_key(at::Tensor& q, at::Tensor& k) {
  if (has_k_head_) {
    q = k_head_.apply_matrices(q, /*inverse_transpose=*/true);
    k = k_head_.apply_matrices(k, /*inverse_transpose=*/false);
  }
  const int64_t d = q.size(-1);
  // The query is no cache: it stays fake-quantized on either backend.
  if (options_.q_cache.enabled()) q = quant::fake_quantize_activation(q, per_head_groups(options_.q_cache, d), q_clip_);
  if (options_.k_cache.enabled()) k = quantize_cache(k, per_head_groups(options_.k_cache, d), k_clip_);
}

at::Tensor FrozenLayer::value_cache(const at::Tensor& v) {
  if (!options_.v_cache.enabled()) return v;
  return quantize_cache(v, per_head_groups(options_.v_cache, v.size(-1)), v_clip_);
}

at::Tensor FrozenLayer::quantize_cache(const at::Tensor& t, const quant::QuantSpec& spec,
                                       const quant::ClipFactors& clip) const {
  if (int4() && spec.bits == 4 && spec.group_size == t.size(-1)) {
    return kernels::kv_cache_dequantize(kernels::kv_cache_quantize(t, token_quant_config(spec, clip)), t.sizes(),
                                        t.scalar_type());
  }
  return quant::fake_quantize_activation(t, spec, clip);
}

at::Tensor FrozenLayer::attention_output(const at::Tensor& attn) {
  if (has_o_heads_ && int4()) return attn.flatten(-2);  // o_proj applies o_heads (deferred_transform)
  if (has_o_heads_) {
    return at::matmul(attn.transpose(-1, -2), o_heads_.right).transpose(-1, -2).flatten(-2);
  }
  if (has_v_head_) return v_head_.apply_matrices(attn, /*inverse_transpose=*/true).flatten(-2);
  return attn.flatten(-2);
}

at::Tensor FrozenLayer::expert_linear(ExpertSite site, const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                                      const at::Tensor& stacked_weight) {
  at::Tensor input = x_sorted;
  if (int4()) {
    if (auto packed = int4_experts_.find(site); packed != int4_experts_.end()) return packed->second(x_sorted, counts);
    if (site == ExpertSite::kDown) {
      input = routed_down_input(x_sorted, counts);
    } else if (auto it = online_.find(LinearGroup::kMoeIn); it != online_.end()) {
      input = it->second.apply(x_sorted);
    }
  }
  const at::Tensor& clip = site == ExpertSite::kDown ? expert_down_clip_ : expert_in_clip_;
  at::Tensor xq = quantize_sorted_rows(input, counts, options_.act, clip.defined() ? clip.to(x_sorted.device()) : clip);
  return model::grouped_linear(xq, counts, stacked_weight);
}

at::Tensor FrozenLayer::expert_down_group_input(const at::Tensor& a_sorted, const std::vector<int64_t>& counts) {
  if (int4()) return a_sorted;  // expert_linear(kDown) applies the transforms
  return routed_down_input(a_sorted, counts);
}

at::Tensor FrozenLayer::routed_down_input(const at::Tensor& a_sorted, const std::vector<int64_t>& counts) const {
  if (routed_down_.empty()) return a_sorted;
  if (routed_down_.size() == 1) return routed_down_[0].apply(a_sorted);
  const std::vector<at::Tensor> rows = a_sorted.split_with_sizes(counts);
  std::vector<at::Tensor> out;
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] > 0) out.push_back(routed_down_[e].apply(rows[e]));
  }
  return out.empty() ? a_sorted : at::cat(out);
}

}  // namespace fq::flat
