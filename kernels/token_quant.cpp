#include "kernels/token_quant.h"

#include "lib/core/error.h"

namespace fq::kernels {

void check_token_quant_config(const TokenQuantConfig& cfg, const char* where) {
  FQ_CHECK(cfg.bits >= 2 && cfg.bits <= 8, where, ": activation bits must be in 2..8, got ", cfg.bits);
  FQ_CHECK(cfg.clip_max > 0.0f && cfg.clip_max <= 1.0f, where, ": clip_max must be in (0, 1] (a sigmoid-ed LAC ",
           "factor), got ", cfg.clip_max);
  FQ_CHECK(cfg.clip_min > 0.0f && cfg.clip_min <= 1.0f, where, ": clip_min must be in (0, 1] (a sigmoid-ed LAC ",
           "factor), got ", cfg.clip_min);
}

}  // namespace fq::kernels
