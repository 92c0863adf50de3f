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

// What a pipeline stage keeps of one layer between the micro-batches of a batch (causal_lm.h,
// PrefixedBatch): the batch's prefix, and the current group's stem after it (prefix and stem as one
// sequence; empty when the group has none).
struct KeptPrefixKv {
  PrefixKv prefix;
  PrefixKv stem;
};

// How one layer call uses prefix keys/values (both null: a whole-sequence call, the default).
struct PrefixKvUse {
  // The call's input continues this prefix: x holds positions P..P+s-1 and the rope tables cover 0..P+s-1.
  const PrefixKv* past = nullptr;
  // Receives the keys and values of every position the call's sequence covers (the call that runs a prefix;
  // batch 1): its own, after past's when it continues one (a question after the few-shot prefix, which its
  // options then continue as one prefix).
  PrefixKv* keep = nullptr;

  int64_t past_tokens() const { return past ? past->key.size(2) : 0; }
};

// The attention of one layer call under `use` (q [b, H, s, d_qk], k [b, Hkv, s, d_qk], v [b, Hkv, s, d_v]):
// causal_attention, or causal_attention_after_prefix when there is a past; stores [past; k] and [past; v]
// into use.keep.
at::Tensor layer_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                           const PrefixKvUse& use);

}  // namespace fq::model
