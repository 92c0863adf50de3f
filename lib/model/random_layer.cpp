#include "lib/model/random_layer.h"

#include <ATen/ATen.h>

#include <cmath>

namespace fq::model {
namespace {

struct Maker {
  c10::ScalarType dtype;
  c10::Device device;
  at::TensorOptions options(c10::ScalarType type) const { return at::TensorOptions().dtype(type).device(device); }
  // [..., out, in] with rows ~ N(0, 1/in)
  at::Tensor linear(std::vector<int64_t> shape, c10::ScalarType type) const {
    const double in = static_cast<double>(shape.back());
    return at::randn(shape, options(type)).mul_(1.0 / std::sqrt(in));
  }
  at::Tensor linear(int64_t out, int64_t in) const { return linear({out, in}, dtype); }
  at::Tensor norm(int64_t n) const { return at::randn({n}, options(dtype)).mul_(0.1).add_(1.0); }
  GatedMlpWeights mlp(int64_t hidden, int64_t inter) const {
    return {linear(inter, hidden), linear(inter, hidden), linear(hidden, inter)};
  }
};

}  // namespace

LayerWeights random_layer_weights(const io::ModelConfig& c, int64_t layer, c10::ScalarType dtype, c10::Device device) {
  const Maker m{dtype, device};
  const int64_t h = c.hidden_size;
  if (c.family == io::ModelFamily::kLlama) {
    const int64_t q_out = c.num_attention_heads * c.head_dim, kv_out = c.num_key_value_heads * c.head_dim;
    LlamaLayerWeights w;
    w.input_norm = m.norm(h);
    w.q = m.linear(q_out, h);
    w.k = m.linear(kv_out, h);
    w.v = m.linear(kv_out, h);
    w.o = m.linear(h, q_out);
    w.post_attention_norm = m.norm(h);
    w.mlp = m.mlp(h, c.intermediate_size);
    return w;
  }
  const int64_t heads = c.num_attention_heads;
  DeepseekLayerWeights w;
  w.input_norm = m.norm(h);
  w.post_attention_norm = m.norm(h);
  MlaWeights& a = w.attn;
  if (c.q_lora_rank > 0) {
    a.q_a = m.linear(c.q_lora_rank, h);
    a.q_a_norm = m.norm(c.q_lora_rank);
    a.q_b = m.linear(heads * c.qk_head_dim(), c.q_lora_rank);
  } else {
    a.q = m.linear(heads * c.qk_head_dim(), h);
  }
  a.kv_a = m.linear(c.kv_lora_rank + c.qk_rope_head_dim, h);
  a.kv_a_norm = m.norm(c.kv_lora_rank);
  a.kv_b = m.linear(heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank);
  a.o = m.linear(h, heads * c.v_head_dim);
  if (!c.is_moe_layer(layer)) {
    w.dense = m.mlp(h, c.intermediate_size);
    return w;
  }
  const int64_t experts = c.n_routed_experts, inter = c.moe_intermediate_size;
  MoeWeights e;
  e.router = m.linear({experts, h}, at::kFloat);
  e.score_bias = at::randn({experts}, m.options(at::kFloat)).mul_(0.1);
  e.gate = m.linear({experts, inter, h}, dtype);
  e.up = m.linear({experts, inter, h}, dtype);
  e.down = m.linear({experts, h, inter}, dtype);
  if (c.n_shared_experts > 0) e.shared = m.mlp(h, inter * c.n_shared_experts);
  w.moe = std::move(e);
  return w;
}

}  // namespace fq::model
