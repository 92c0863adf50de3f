// A model ready to evaluate in one of three forms: full precision, round-to-nearest W4A4 (no transforms,
// no clipping), or FlatQuant (the calibrated transforms.h5 folded into the weights). Builds the hooks of
// a layer as its weights are loaded (folding and quantizing them): the layer-by-layer walk releases them
// with the layer, a pipeline stage keeps those of its layers (lib/model/resident_layers.h). The quantized forms run on the fake-quant or the packed
// int4 backend (flat::QuantBackend; docs/EVALUATION.md).
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

// "fake" | "int4"; "auto" picks int4 on CUDA (the fast kernels, 4-bit weights in memory) and fake on the
// CPU (float GEMMs beat the CPU int4 references, which exist to check the kernels).
flat::QuantBackend parse_quant_backend(const std::string& name, bool cuda, const std::string& where);
std::string quant_backend_name(flat::QuantBackend backend);

class EvalModel {
 public:
  // kFlatQuant reads `transforms_path` (its fingerprint must match the checkpoint's) and takes the
  // quantizer settings stored there; kRtn uses `rtn_quant`. Layers the artifact marks as skipped are
  // evaluated with identity transforms (plain RTN).
  // With the int4 backend and quantizers the kernels cannot take (int4_quantizer_unsupported_reason), the
  // whole model falls back to fake with one warning.
  EvalModel(const io::Checkpoint& checkpoint, EvalMethod method, const std::string& transforms_path,
            const QuantConfig& rtn_quant, flat::QuantBackend backend = flat::QuantBackend::kFake);
  // kFlatQuant with frozen layer parameters already in memory (layer index -> FlatLayer::export_frozen()
  // names; absent layers run plain RTN) and their quantizer settings.
  EvalModel(const io::Checkpoint& checkpoint, std::map<int64_t, flat::NamedTensors> layers, const QuantConfig& quant,
            flat::QuantBackend backend);

  EvalMethod method() const { return method_; }
  const QuantConfig& quant() const { return quant_; }
  flat::QuantBackend backend() const { return options_.backend; }
  // Whether the decoder layers' linears are held as packed int4 (quantized, on the int4 backend).
  bool packs_int4() const { return method_ != EvalMethod::kFullPrecision && backend() == flat::QuantBackend::kInt4; }
  // Weight memory of the distinct layers built so far (a layer built again, by another walk, counts once).
  flat::WeightMemory weight_memory() const;
  static Json weight_memory_json(const flat::WeightMemory& memory);
  // The frozen hooks of `layer`, folding and quantizing its freshly loaded `weights` in place; null for
  // the full-precision model.
  std::unique_ptr<model::LayerHooks> layer_hooks(int64_t layer, model::LayerWeights& weights);
  // layer_hooks as the callback of run_decoder_layers / ResidentLayers; empty for the full-precision model.
  model::HooksForLayer hooks();
  // What was evaluated, for reports.
  Json describe() const;

 private:
  // kFlatQuant: the artifact's quantizer settings and calibrated layers.
  void read_artifact();
  void set_backend(flat::QuantBackend backend);

  const io::Checkpoint& checkpoint_;
  EvalMethod method_;
  std::string transforms_path_;
  QuantConfig quant_;
  flat::FrozenQuantOptions options_;
  std::map<int64_t, flat::NamedTensors> layers_;  // calibrated layers' frozen parameters
  std::map<int64_t, flat::WeightMemory> memory_;  // per layer built
};

}  // namespace fq::pipelines
