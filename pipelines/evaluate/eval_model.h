// A model ready to evaluate in one of three forms: full precision, round-to-nearest W4A4 (no transforms,
// no clipping), or FlatQuant (the calibrated transforms.h5 folded into the weights). Produces the per-layer
// hooks the model walk uses (lib/model/causal_lm.h): each layer's weights are folded and quantized as
// they are loaded, then released with the layer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "lib/core/json.h"
#include "lib/flat/flat_layer.h"
#include "lib/flat/frozen_layer.h"
#include "lib/io/checkpoint.h"
#include "lib/model/causal_lm.h"
#include "pipelines/config/run_config.h"

namespace fq::pipelines {

enum class EvalMethod { kFullPrecision, kRtn, kFlatQuant };

EvalMethod parse_eval_method(const std::string& name, const std::string& where);
std::string eval_method_name(EvalMethod method);

class EvalModel {
 public:
  // kFlatQuant reads `transforms_path` (its fingerprint must match the checkpoint's) and takes the
  // quantizer settings stored there; kRtn uses `rtn_quant`. Layers the artifact marks as skipped are
  // evaluated with identity transforms (plain RTN).
  EvalModel(const io::Checkpoint& checkpoint, EvalMethod method, const std::string& transforms_path,
            const QuantConfig& rtn_quant);

  EvalMethod method() const { return method_; }
  const QuantConfig& quant() const { return quant_; }
  // The callback for run_decoder_layers / perplexity; empty for the full-precision model.
  model::HooksForLayer hooks();
  // What was evaluated, for reports.
  Json describe() const;

 private:
  const io::Checkpoint& checkpoint_;
  EvalMethod method_;
  std::string transforms_path_;
  QuantConfig quant_;
  flat::FrozenQuantOptions options_;
  std::map<int64_t, flat::NamedTensors> layers_;  // calibrated layers' frozen parameters
  std::unique_ptr<flat::FrozenLayer> current_;    // the hooks of the layer being run
};

}  // namespace fq::pipelines
