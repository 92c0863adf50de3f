#include "lib/model/prefix_kv.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/model/attention.h"

namespace fq::model {

at::Tensor layer_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale,
                           const PrefixKvUse& use) {
  if (use.keep) {
    FQ_CHECK(k.size(0) == 1, "a prefix's keys/values are kept for one sequence, got a batch of ", k.size(0));
    FQ_CHECK(use.keep != use.past, "a prefix's keys/values cannot replace the past they continue");
    // k may be an expanded view (MLA's shared rope head): keep a dense copy, read by every later call. A
    // prefix that continues another keeps both as one sequence, the form every later call reads.
    *use.keep = use.past ? PrefixKv{at::cat({use.past->key, k}, 2), at::cat({use.past->value, v}, 2)}
                         : PrefixKv{k.contiguous(), v.contiguous()};
  }
  if (use.past) return causal_attention_after_prefix(q, k, v, use.past->key, use.past->value, scale);
  return causal_attention(q, k, v, scale);
}

}  // namespace fq::model
