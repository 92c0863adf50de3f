#include "lib/model/prefix_kv.h"

#include "lib/core/error.h"
#include "lib/model/attention.h"

namespace fq::model {

at::Tensor layer_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                           const PrefixKvUse& use) {
  FQ_CHECK(!(use.keep && use.past), "a layer call either runs a prefix or continues one, not both");
  if (use.keep) {
    FQ_CHECK(k.size(0) == 1, "a prefix's keys/values are kept for one sequence, got a batch of ", k.size(0));
    // k may be an expanded view (MLA's shared rope head): keep a dense copy, read by every later call.
    *use.keep = PrefixKv{k.contiguous(), v.contiguous()};
  }
  if (use.past) return causal_attention_after_prefix(q, k, v, use.past->key, use.past->value, scale);
  return causal_attention(q, k, v, scale);
}

}  // namespace fq::model
