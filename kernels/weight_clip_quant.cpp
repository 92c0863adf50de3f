#include "kernels/weight_clip_quant.h"

#include "lib/core/error.h"

namespace fq::kernels {

void check_weight_quant_rule(const WeightQuantRule& rule, const char* where) {
  FQ_CHECK(rule.bits >= 2 && rule.bits <= 8, where, ": weight bits must be in 2..8, got ", rule.bits);
}

}  // namespace fq::kernels
