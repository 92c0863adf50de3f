#include "lib/model/layer_input.h"

#include "lib/core/error.h"
#include "lib/tensor/dtype.h"

namespace fq::model {

void check_layer_input(const at::Tensor& x, const at::Tensor& norm_weight, const RopeTables& rope, int64_t hidden,
                       int64_t rope_dim, int64_t past_tokens) {
  FQ_CHECK(x.dim() == 3 && x.size(2) == hidden, "decoder layer input must be [batch, seq, hidden=", hidden, "], got ",
           x.sizes());
  FQ_CHECK(x.scalar_type() == norm_weight.scalar_type(), "decoder layer input is ", dtype_name(x.scalar_type()),
           " but the layer weights are ", dtype_name(norm_weight.scalar_type()));
  FQ_CHECK(x.device() == norm_weight.device(), "decoder layer input is on ", x.device(),
           " but the layer weights are on ", norm_weight.device());
  FQ_CHECK(rope.cos.dim() == 2 && rope.cos.size(0) == past_tokens + x.size(1) && rope.cos.size(1) == rope_dim,
           "rope tables ", rope.cos.sizes(), " do not cover past=", past_tokens, " + seq=", x.size(1),
           " positions of dim ", rope_dim);
  FQ_CHECK(rope.cos.scalar_type() == x.scalar_type() && rope.cos.device() == x.device(),
           "rope tables are not in the layer's compute dtype and device");
}

}  // namespace fq::model
