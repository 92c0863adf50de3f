// Keys and values of a prompt prefix that many sequences share, for one decoder layer.
//
// Evaluation prompts of a subject begin with the same few-shot prefix. Since the model walk runs one
// layer at a time, that prefix runs through a layer once, keeping its keys and values, and the sequences'
// own tokens then attend to them: the prefix's keys/values exist only for the layer being run. They are
// kept as attention reads them, after RoPE and the hooks' quantizers (LLaMA: query_key, value_cache;
// DeepSeek MLA: [k_nope, rope(k_rope)] and v from kv_b), so the sequences see exactly what a whole-prompt
// forward would compute for those positions: every hook quantizes per token.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace fq::model {

struct PrefixKv {
  at::Tensor key;    // [1, Hkv, P, d_qk]
  at::Tensor value;  // [1, Hkv, P, d_v]
};

// How one layer call uses prefix keys/values (both null: a whole-sequence call, the default).
struct PrefixKvUse {
  // The call's input continues this prefix: x holds positions P..P+s-1 and the rope tables cover 0..P+s-1.
  const PrefixKv* past = nullptr;
  // Receives the call's own keys and values (the call that runs a prefix; batch 1).
  PrefixKv* keep = nullptr;

  int64_t past_tokens() const { return past ? past->key.size(2) : 0; }
};

// The attention of one layer call under `use` (q [b, H, s, d_qk], k [b, Hkv, s, d_qk], v [b, Hkv, s, d_v]):
// causal_attention, or causal_attention_after_prefix when there is a past; stores k and v into use.keep.
at::Tensor layer_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                           const PrefixKvUse& use);

}  // namespace fq::model
