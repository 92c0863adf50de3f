#include "lib/flat/flat_layer.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/flat/expert_group_autograd.h"
#include "lib/flat/fused_expert_linear.h"
#include "lib/flat/site_groups.h"
#include "lib/quant/learnable_clip.h"

namespace fq::flat {

using model::ExpertSite;
using model::LinearGroup;
using model::LinearSite;
using quant::AffineTransform;
using quant::TransformMatrices;

namespace {

// The KV-cache quantizers work per (token, head) on groups of at most head_dim elements.
quant::QuantSpec cache_spec(quant::QuantSpec spec, int64_t head_dim, const char* what) {
  if (spec.group_size == 0 || spec.group_size > head_dim) spec.group_size = head_dim;
  spec.validate_for(head_dim, what);
  return spec;
}

void freeze_into(NamedTensors& out, const std::string& prefix, const TransformMatrices& m) {
  if (!m.is_single()) {
    out.emplace_back(prefix + ".left", m.left);
    out.emplace_back(prefix + ".left_inv_t", m.left_inv_t);
  }
  out.emplace_back(prefix + (m.is_single() ? ".matrix" : ".right"), m.right);
  out.emplace_back(prefix + (m.is_single() ? ".matrix_inv_t" : ".right_inv_t"), m.right_inv_t);
  if (m.diag.defined()) out.emplace_back(prefix + ".diag", m.diag);
}

void prefixed(NamedTensors& out, const std::string& prefix, const NamedTensors& items) {
  for (const auto& [name, t] : items) out.emplace_back(prefix + "." + name, t);
}

}  // namespace

FlatLayer::FlatLayer(const io::ModelConfig& config, int64_t layer_index, const FlatOptions& options,
                     at::Generator& gen, c10::Device device, ExpertGroup expert_group)
    : options_(options),
      llama_(config.family == io::ModelFamily::kLlama),
      moe_(!llama_ && config.is_moe_layer(layer_index)),
      param_options_(at::TensorOptions().dtype(options.param_dtype).device(device)),
      group_(std::move(expert_group)) {
  const bool transformed = options.transforms;
  const int64_t hidden = config.hidden_size;
  heads_ = config.num_attention_heads;
  if (llama_) {
    head_dim_ = config.head_dim;
    const int64_t d = head_dim_, kv = config.num_key_value_heads, inter = config.intermediate_size;
    if (transformed) {
      add_group(LinearGroup::kAttnIn, hidden, gen);
      o_heads_ = AffineTransform::single(heads_, options.param, gen, param_options_);
      add_group(LinearGroup::kMlpIn, hidden, gen);
      add_group(LinearGroup::kDownIn, inter, gen);
    }
    if (transformed || options.v_cache.enabled()) {
      v_head_ = AffineTransform::single(d, options.param, gen, param_options_);
    }
    if (options.q_cache.enabled() || options.k_cache.enabled()) {
      k_head_ = AffineTransform::single(d, options.param, gen, param_options_);
    }
    add_linear(LinearSite::kQ, {heads_ * d, hidden});
    add_linear(LinearSite::kK, {kv * d, hidden});
    add_linear(LinearSite::kV, {kv * d, hidden});
    add_linear(LinearSite::kO, {hidden, heads_ * d});
    add_linear(LinearSite::kGate, {inter, hidden});
    add_linear(LinearSite::kUp, {inter, hidden});
    add_linear(LinearSite::kDown, {hidden, inter});
    const bool lac = options.linear.lac;
    if (options.q_cache.enabled()) {
      q_cache_ = std::make_unique<quant::ActivationQuantizer>(cache_spec(options.q_cache, d, "query quantizer"), lac,
                                                              param_options_);
    }
    if (options.k_cache.enabled()) {
      k_cache_ = std::make_unique<quant::ActivationQuantizer>(cache_spec(options.k_cache, d, "K-cache quantizer"),
                                                              lac, param_options_);
    }
    if (options.v_cache.enabled()) {
      v_cache_ = std::make_unique<quant::ActivationQuantizer>(cache_spec(options.v_cache, d, "V-cache quantizer"),
                                                              lac, param_options_);
    }
  } else {
    const int64_t qk = config.qk_head_dim(), v_dim = config.v_head_dim;
    if (transformed) {
      add_group(LinearGroup::kAttnIn, hidden, gen);
      if (config.q_lora_rank > 0) add_group(LinearGroup::kQbIn, config.q_lora_rank, gen);
      add_group(LinearGroup::kOIn, heads_ * v_dim, gen);
    }
    if (config.q_lora_rank > 0) {
      add_linear(LinearSite::kQA, {config.q_lora_rank, hidden});
      add_linear(LinearSite::kQB, {heads_ * qk, config.q_lora_rank});
    } else {
      add_linear(LinearSite::kQ, {heads_ * qk, hidden});
    }
    add_linear(LinearSite::kKVA, {config.kv_lora_rank + config.qk_rope_head_dim, hidden});
    add_linear(LinearSite::kO, {hidden, heads_ * v_dim});
    if (moe_) {
      const int64_t mi = config.moe_intermediate_size, shared = config.n_shared_experts * mi;
      total_experts_ = config.n_routed_experts;
      if (group_.experts.empty()) {
        for (int64_t e = 0; e < total_experts_; ++e) group_.experts.push_back(e);
      }
      experts_ = static_cast<int64_t>(group_.experts.size());
      if (transformed) {
        add_group(LinearGroup::kMoeIn, hidden, gen);
        if (shared > 0) add_group(LinearGroup::kSharedDownIn, shared, gen);
        if (!options.per_expert_down_transform) {
          routed_down_.push_back(AffineTransform::kronecker(mi, options.param, options.diag_scale, gen, param_options_));
        } else {
          // Every expert's transform is drawn, in id order, and the held ones kept: the same values
          // whatever the group's split.
          for (int64_t e = 0, next = 0; e < total_experts_; ++e) {
            AffineTransform t = AffineTransform::kronecker(mi, options.param, options.diag_scale, gen, param_options_);
            if (next < experts_ && group_.experts[next] == e) {
              routed_down_.push_back(std::move(t));
              ++next;
            }
          }
        }
      }
      if (shared > 0) {
        add_linear(LinearSite::kSharedGate, {shared, hidden});
        add_linear(LinearSite::kSharedUp, {shared, hidden});
        add_linear(LinearSite::kSharedDown, {hidden, shared});
      }
      // Expert weights get LWC per row of every expert; their activations use ExpertActQuantizer.
      quant::LinearQuantOptions weight_only = options.linear;
      weight_only.act.bits = 16;
      for (auto [site, shape] : {std::pair<ExpertSite, std::vector<int64_t>>{ExpertSite::kGate, {experts_, mi, hidden}},
                                 {ExpertSite::kUp, {experts_, mi, hidden}},
                                 {ExpertSite::kDown, {experts_, hidden, mi}}}) {
        expert_linears_.emplace(site, quant::QuantizedLinear(shape, weight_only, nullptr, param_options_));
      }
      expert_in_act_ = std::make_unique<ExpertActQuantizer>(options.linear.act, options.linear.lac, experts_,
                                                            options.per_expert_act_quantizers, param_options_);
      expert_down_act_ = std::make_unique<ExpertActQuantizer>(options.linear.act, options.linear.lac, experts_,
                                                              options.per_expert_act_quantizers, param_options_);
    } else {
      const int64_t inter = config.intermediate_size;
      if (transformed) {
        add_group(LinearGroup::kMlpIn, hidden, gen);
        add_group(LinearGroup::kDownIn, inter, gen);
      }
      add_linear(LinearSite::kGate, {inter, hidden});
      add_linear(LinearSite::kUp, {inter, hidden});
      add_linear(LinearSite::kDown, {hidden, inter});
    }
  }
  if (!options.learn_transforms) {
    // Fixed random transforms (the reference without cali_trans): only diag scales and clipping train.
    for (auto& p : trainable_parameters().transforms) p.set_requires_grad(false);
  }
}

void FlatLayer::add_group(LinearGroup group, int64_t size, at::Generator& gen) {
  groups_.emplace(group, AffineTransform::kronecker(size, options_.param, options_.diag_scale, gen, param_options_));
}

void FlatLayer::add_linear(LinearSite site, std::vector<int64_t> shape) {
  linears_.emplace(site, quant::QuantizedLinear(shape, options_.linear, nullptr, param_options_));
}

std::vector<LinearGroup> FlatLayer::diag_groups() const {
  std::vector<LinearGroup> out;
  for (const auto& [group, t] : groups_) {
    if (t.has_diag()) out.push_back(group);
  }
  return out;
}

bool FlatLayer::has_routed_down_diag() const { return !routed_down_.empty() && routed_down_.front().has_diag(); }

void FlatLayer::init_diag(LinearGroup group, const at::Tensor& weight_col_absmax, const at::Tensor& act_col_absmax,
                          double alpha) {
  auto it = groups_.find(group);
  FQ_CHECK(it != groups_.end(), "init_diag: layer has no transform for group ", group_name(group));
  it->second.init_diag_smoothquant(weight_col_absmax, act_col_absmax, alpha);
}

void FlatLayer::init_routed_down_diag(const at::Tensor& weight_col_absmax, const at::Tensor& act_col_absmax,
                                      double alpha) {
  FQ_CHECK(has_routed_down_diag(), "init_routed_down_diag: layer has no routed down diag scale");
  if (!options_.per_expert_down_transform) {
    routed_down_[0].init_diag_smoothquant(weight_col_absmax.reshape({-1, weight_col_absmax.size(-1)}).amax(0),
                                          act_col_absmax.reshape({-1, act_col_absmax.size(-1)}).amax(0), alpha);
    return;
  }
  FQ_CHECK(weight_col_absmax.dim() == 2 && weight_col_absmax.size(0) == total_experts_ && act_col_absmax.dim() == 2 &&
               act_col_absmax.size(0) == total_experts_,
           "init_routed_down_diag: per-expert transforms need [E, n] statistics of all E=", total_experts_, " experts");
  for (int64_t i = 0; i < experts_; ++i) {
    const int64_t e = group_.experts[i];
    routed_down_[i].init_diag_smoothquant(weight_col_absmax[e], act_col_absmax[e], alpha);
  }
}

void FlatLayer::refresh() {
  step_.clear();
  for (const auto& [group, t] : groups_) step_.emplace(group, t.matrices());
  if (o_heads_) o_heads_step_ = o_heads_->matrices();
  if (v_head_) v_head_step_ = v_head_->matrices();
  if (k_head_) k_head_step_ = k_head_->matrices();
  routed_down_step_.clear();
  for (const auto& t : routed_down_) routed_down_step_.push_back(t.matrices());
  moe_in_for_experts_.reset();
  entered_.clear();
}

void FlatLayer::reduce_expert_shared_gradients() {
  if (!group_.active()) return;
  std::vector<at::Tensor> shared;
  if (routed_down_.size() == 1) {
    for (const auto& [name, t] : routed_down_[0].named_parameters()) shared.push_back(t);
  }
  for (const auto* q : {&expert_in_act_, &expert_down_act_}) {
    if (*q && !options_.per_expert_act_quantizers) {
      for (const auto& t : (*q)->parameters()) shared.push_back(t);
    }
  }
  std::vector<at::Tensor> grads;
  for (const auto& p : shared) grads.push_back(p.grad());
  allreduce_sum_together(group_, grads, shared);
  for (size_t i = 0; i < shared.size(); ++i) {
    if (shared[i].grad().defined()) {
      shared[i].mutable_grad().copy_(grads[i]);
    } else {
      shared[i].mutable_grad() = grads[i];
    }
  }
}

const TransformMatrices& FlatLayer::matrices(LinearGroup group) const {
  auto it = step_.find(group);
  FQ_ASSERT(it != step_.end(), "FlatLayer used without refresh() (group ", group_name(group), ")");
  return it->second;
}

quant::TrainableParameters FlatLayer::trainable_parameters() const {
  quant::TrainableParameters p;
  auto add_transform = [&](const AffineTransform& t) {
    for (auto& x : t.transform_parameters()) p.transforms.push_back(x);
    for (auto& x : t.diag_parameters()) p.diags.push_back(x);
  };
  for (const auto& [group, t] : groups_) add_transform(t);
  for (const auto* t : {&o_heads_, &v_head_, &k_head_}) {
    if (*t) add_transform(**t);
  }
  for (const auto& t : routed_down_) add_transform(t);
  if (!options_.learn_transforms) p.transforms.clear();
  auto add_clips = [&](const std::vector<at::Tensor>& v) { p.clips.insert(p.clips.end(), v.begin(), v.end()); };
  for (const auto& [site, lin] : linears_) add_clips(lin.clip_parameters());
  for (const auto& [site, lin] : expert_linears_) add_clips(lin.clip_parameters());
  for (const auto* q : {&q_cache_, &k_cache_, &v_cache_}) {
    if (*q) add_clips((*q)->parameters());
  }
  if (expert_in_act_) add_clips(expert_in_act_->parameters());
  if (expert_down_act_) add_clips(expert_down_act_->parameters());
  return p;
}

NamedTensors FlatLayer::named_parameters() const {
  NamedTensors out;
  for (const auto& [group, t] : groups_) prefixed(out, group_name(group), t.named_parameters());
  if (o_heads_) prefixed(out, "o_heads", o_heads_->named_parameters());
  if (v_head_) prefixed(out, "v_head", v_head_->named_parameters());
  if (k_head_) prefixed(out, "k_head", k_head_->named_parameters());
  for (size_t e = 0; e < routed_down_.size(); ++e) {
    prefixed(out, routed_down_.size() == 1 ? "routed_down_in" : "routed_down_in.e" + std::to_string(e),
             routed_down_[e].named_parameters());
  }
  for (const auto& [site, lin] : linears_) prefixed(out, site_name(site), lin.named_parameters());
  for (const auto& [site, lin] : expert_linears_) prefixed(out, expert_site_name(site), lin.named_parameters());
  if (q_cache_) prefixed(out, "q_cache", q_cache_->named_parameters());
  if (k_cache_) prefixed(out, "k_cache", k_cache_->named_parameters());
  if (v_cache_) prefixed(out, "v_cache", v_cache_->named_parameters());
  if (expert_in_act_) prefixed(out, "experts.in_act", expert_in_act_->named_parameters());
  if (expert_down_act_) prefixed(out, "experts.down_act", expert_down_act_->named_parameters());
  return out;
}

NamedTensors FlatLayer::export_frozen() const {
  at::NoGradGuard no_grad;
  NamedTensors out;
  for (const auto& [group, t] : groups_) freeze_into(out, group_name(group), t.freeze());
  if (o_heads_) freeze_into(out, "o_heads", o_heads_->freeze());
  if (v_head_) freeze_into(out, "v_head", v_head_->freeze());
  if (k_head_) freeze_into(out, "k_head", k_head_->freeze());
  if (!routed_down_.empty()) {
    // Shared: [n1, n1] ... as any group; per expert: the same names stacked over experts [E, ...].
    std::vector<NamedTensors> per;
    for (const auto& t : routed_down_) {
      per.emplace_back();
      freeze_into(per.back(), "routed_down_in", t.freeze());
    }
    for (size_t i = 0; i < per.front().size(); ++i) {
      if (per.size() == 1) {
        out.push_back(per[0][i]);
      } else {
        std::vector<at::Tensor> items;
        for (const auto& p : per) items.push_back(p[i].second);
        out.emplace_back(per[0][i].first, at::stack(items));
      }
    }
  }
  auto clips = [&](const std::string& name, const quant::QuantizedLinear& lin) {
    if (lin.has_weight_clip()) {
      quant::ClipFactors f = lin.weight_clip().factors();
      out.emplace_back(name + ".weight_clip", at::cat({f.max, f.min}, -1).detach().to(at::kDouble));
    }
    if (lin.activation_quantizer().has_clip()) {
      quant::ClipFactors f = lin.activation_quantizer().factors();
      out.emplace_back(name + ".act_clip", at::cat({f.max, f.min}).detach().to(at::kDouble));
    }
  };
  for (const auto& [site, lin] : linears_) clips(site_name(site), lin);
  for (const auto& [site, lin] : expert_linears_) clips(expert_site_name(site), lin);
  auto cache = [&](const std::string& name, const std::unique_ptr<quant::ActivationQuantizer>& q) {
    if (q && q->has_clip()) {
      quant::ClipFactors f = q->factors();
      out.emplace_back(name + ".act_clip", at::cat({f.max, f.min}).detach().to(at::kDouble));
    }
  };
  cache("q_cache", q_cache_);
  cache("k_cache", k_cache_);
  cache("v_cache", v_cache_);
  if (expert_in_act_ && expert_in_act_->has_clip()) {
    out.emplace_back("experts.in.act_clip", expert_in_act_->clip_factors().to(at::kDouble));
  }
  if (expert_down_act_ && expert_down_act_->has_clip()) {
    out.emplace_back("experts.down.act_clip", expert_down_act_->clip_factors().to(at::kDouble));
  }
  if (group_.active()) {
    // Per-expert tensors hold the member's experts: every member gets all E rows (collective; the
    // caller's leader writes them).
    for (auto& [name, t] : out) {
      const bool per_expert = (name.rfind("experts.", 0) == 0 && name.find(".weight_clip") != std::string::npos) ||
                              (name.rfind("routed_down_in", 0) == 0 && options_.per_expert_down_transform) ||
                              (name.rfind("experts.", 0) == 0 && name.find(".act_clip") != std::string::npos &&
                               options_.per_expert_act_quantizers);
      if (per_expert) t = gather_expert_rows(group_, t.detach(), total_experts_);
    }
  }
  for (auto& [name, t] : out) t = t.detach().to(at::kCPU).contiguous();
  return out;
}

at::Tensor FlatLayer::group_input(LinearGroup group, const at::Tensor& x) {
  return groups_.count(group) ? matrices(group).apply(x) : x;
}

at::Tensor FlatLayer::linear(LinearSite site, const at::Tensor& x, const at::Tensor& weight) {
  auto it = linears_.find(site);
  if (it == linears_.end()) return at::linear(x, weight.to(x.scalar_type()));  // kv_b: high precision
  const quant::QuantizedLinear& lin = it->second;
  at::Tensor w = weight.to(x.scalar_type());
  if (llama_ && site == LinearSite::kO) {
    // o_proj sees heads mixed by O and each head's V transform: W' = kron(O^{-T}, Mv^{-T}) applied to rows.
    if (o_heads_) w = quant::kronecker_apply(w, o_heads_step_.right_inv_t, v_head_step_.right_inv_t);
    return lin.forward(x, w);
  }
  if (auto group = group_of(site, llama_); group && groups_.count(*group)) {
    w = matrices(*group).apply_inverse_transpose(w);
  }
  if (llama_ && site == LinearSite::kV && v_head_) {
    // The V transform folds into v_proj's output rows after clipping: v' = v Mv per head.
    at::Tensor clipped = lin.clip_weight(w);
    const at::Tensor mv = v_head_step_.right.to(w.scalar_type());
    at::Tensor rows = clipped.reshape({-1, head_dim_, clipped.size(1)});
    at::Tensor transformed = at::matmul(mv.transpose(0, 1), rows).reshape(clipped.sizes());
    at::Tensor xq = lin.quantize_input(x);
    return at::linear(xq, lin.quantize_weight(transformed).to(xq.scalar_type()));
  }
  return lin.forward(x, w);
}

void FlatLayer::query_key(at::Tensor& q, at::Tensor& k) {
  if (k_head_) {
    q = k_head_step_.apply_matrices(q, /*inverse_transpose=*/true);
    k = k_head_step_.apply_matrices(k, /*inverse_transpose=*/false);
  }
  if (q_cache_) q = (*q_cache_)(q).to(q.scalar_type());
  if (k_cache_) k = (*k_cache_)(k).to(q.scalar_type());
}

at::Tensor FlatLayer::value_cache(const at::Tensor& v) { return v_cache_ ? (*v_cache_)(v) : v; }

at::Tensor FlatLayer::attention_output(const at::Tensor& attn) {
  // attn [b, s, H, d] already carries each head's V transform (through v_proj).
  if (o_heads_) {
    const at::Tensor o = o_heads_step_.right.to(attn.scalar_type());
    // O^T X per token, X = [H, d]: computed as (X^T O)^T so that it is one GEMM over all tokens.
    at::Tensor mixed = at::matmul(attn.transpose(-1, -2), o).transpose(-1, -2);
    return mixed.flatten(-2);
  }
  if (v_head_) return v_head_step_.apply_matrices(attn, /*inverse_transpose=*/true).flatten(-2);
  return attn.flatten(-2);
}

at::Tensor FlatLayer::expert_linear(ExpertSite site, const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                                    const at::Tensor& stacked_weight) {
  const quant::QuantizedLinear& lin = expert_linears_.at(site);
  ExpertWeightTransform t;
  t.spec = lin.options().weight;
  auto use = [&t](const TransformMatrices& m) {
    t.left_inv_t = m.left_inv_t;
    t.right_inv_t = m.right_inv_t;
    t.diag = m.diag;
  };
  if (site == ExpertSite::kDown) {
    if (routed_down_step_.size() == 1) {
      use(routed_down_step_[0]);
    } else if (!routed_down_step_.empty()) {
      // One transform per expert: stacked so that the fused op applies them in one batched product.
      std::vector<at::Tensor> l, r, d;
      for (const auto& m : routed_down_step_) {
        l.push_back(m.left_inv_t);
        r.push_back(m.right_inv_t);
        if (m.diag.defined()) d.push_back(m.diag);
      }
      t.left_inv_t = at::stack(l);
      t.right_inv_t = at::stack(r);
      if (!d.empty()) t.diag = at::stack(d);
    }
  } else if (moe_in_for_experts_) {
    use(*moe_in_for_experts_);
  } else if (groups_.count(LinearGroup::kMoeIn)) {
    use(matrices(LinearGroup::kMoeIn));
  }
  if (lin.has_weight_clip()) {
    t.clip_max_logit = lin.weight_clip().max_logit();
    t.clip_min_logit = lin.weight_clip().min_logit();
  }
  const ExpertActQuantizer& act = site == ExpertSite::kDown ? *expert_down_act_ : *expert_in_act_;
  at::Tensor xq = act(x_sorted, counts);
  // Chunks of about 2^28 weight elements (512 MB in bf16) bound the recomputed weights' memory.
  constexpr int64_t kChunkElements = int64_t{1} << 28;
  const int64_t per_expert = stacked_weight.size(1) * stacked_weight.size(2);
  const int64_t chunk = std::max<int64_t>(1, kChunkElements / per_expert);
  return fused_expert_linear(xq, counts, stacked_weight, t, chunk);
}

at::Tensor FlatLayer::expert_down_group_input(const at::Tensor& a_sorted, const std::vector<int64_t>& counts) {
  if (routed_down_step_.empty()) return a_sorted;
  if (routed_down_step_.size() == 1) return routed_down_step_[0].apply(a_sorted);
  const std::vector<at::Tensor> rows = a_sorted.split_with_sizes(counts);
  std::vector<at::Tensor> out;
  for (size_t e = 0; e < counts.size(); ++e) {
    if (counts[e] > 0) out.push_back(routed_down_step_[e].apply(rows[e]));
  }
  return out.empty() ? a_sorted : at::cat(out);
}

void FlatLayer::enter_routed_experts(at::Tensor& x, at::Tensor& routing_weights) {
  if (!group_.active() || !at::GradMode::is_enabled()) return;  // without gradients the forward is the same
  std::vector<at::Tensor> inputs{x, routing_weights};
  const bool moe_in = groups_.count(LinearGroup::kMoeIn) > 0;
  if (moe_in) {
    const TransformMatrices& m = matrices(LinearGroup::kMoeIn);
    for (const at::Tensor& t : {m.left_inv_t, m.right_inv_t, m.diag}) {
      if (t.defined()) inputs.push_back(t);
    }
  }
  entered_ = group_entry(group_, inputs);
  x = entered_[0];
  routing_weights = entered_[1];
  if (moe_in) {
    TransformMatrices m = matrices(LinearGroup::kMoeIn);
    size_t next = 2;
    for (at::Tensor* t : {&m.left_inv_t, &m.right_inv_t, &m.diag}) {
      if (t->defined()) *t = entered_[next++];
    }
    moe_in_for_experts_ = m;
  }
}

at::Tensor FlatLayer::combine_routed_experts(const at::Tensor& share_sum) {
  if (!group_.active()) return share_sum;
  if (!entered_.empty()) {
    at::Tensor sum = group_combine(group_, share_sum, entered_);
    entered_.clear();
    moe_in_for_experts_.reset();
    return sum;
  }
  at::Tensor sum = share_sum.detach().clone();
  group_.allreduce_sum(sum);
  return sum;
}

}  // namespace fq::flat
