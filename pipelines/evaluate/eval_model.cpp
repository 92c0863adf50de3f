#include "pipelines/evaluate/eval_model.h"

#include <cstdio>

#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/flat/int4_linear.h"
#include "lib/store/tensor_archive_reader.h"
#include "pipelines/config/quant_options.h"
#include "pipelines/stages/gather_stage.h"

namespace fq::pipelines {

EvalMethod parse_eval_method(const std::string& name, const std::string& where) {
  if (name == "fp" || name == "full_precision") return EvalMethod::kFullPrecision;
  if (name == "rtn") return EvalMethod::kRtn;
  if (name == "flatquant") return EvalMethod::kFlatQuant;
  throw Error(str(where, ": unknown method '", name, "' (expected fp, rtn or flatquant)"));
}

std::string eval_method_name(EvalMethod method) {
  switch (method) {
    case EvalMethod::kFullPrecision: return "fp";
    case EvalMethod::kRtn: return "rtn";
    case EvalMethod::kFlatQuant: return "flatquant";
  }
  return "?";
}

flat::QuantBackend parse_quant_backend(const std::string& name, bool cuda, const std::string& where) {
  if (name == "fake") return flat::QuantBackend::kFake;
  if (name == "int4") return flat::QuantBackend::kInt4;
  if (name == "auto") return cuda ? flat::QuantBackend::kInt4 : flat::QuantBackend::kFake;
  throw Error(str(where, ": unknown backend '", name, "' (expected auto, fake or int4)"));
}

std::string quant_backend_name(flat::QuantBackend backend) {
  return backend == flat::QuantBackend::kInt4 ? "int4" : "fake";
}

EvalModel::EvalModel(const io::Checkpoint& checkpoint, EvalMethod method, const std::string& transforms_path,
                     const QuantConfig& rtn_quant, flat::QuantBackend backend)
    : checkpoint_(checkpoint), method_(method), transforms_path_(transforms_path), quant_(rtn_quant) {
  if (method == EvalMethod::kFlatQuant) read_artifact();
  set_backend(backend);
}

EvalModel::EvalModel(const io::Checkpoint& checkpoint, std::map<int64_t, flat::NamedTensors> layers,
                     const QuantConfig& quant, flat::QuantBackend backend)
    : checkpoint_(checkpoint), method_(EvalMethod::kFlatQuant), quant_(quant), layers_(std::move(layers)) {
  set_backend(backend);
}

void EvalModel::set_backend(flat::QuantBackend backend) {
  options_ = frozen_options(quant_);
  options_.backend = backend;
  if (backend == flat::QuantBackend::kInt4 && method_ != EvalMethod::kFullPrecision) {
    if (const std::string why = flat::int4_quantizer_unsupported_reason(options_.weight, options_.act); !why.empty()) {
      log::warn("eval", "int4 backend cannot take these quantizers: the whole model runs fake-quantized",
                {{"reason", why}});
      options_.backend = flat::QuantBackend::kFake;
    }
  }
}

void EvalModel::read_artifact() {
  FQ_CHECK(!transforms_path_.empty(), "method flatquant needs a transforms.h5 (--transforms or --run)");
  store::TensorArchiveReader archive(transforms_path_);
  FQ_CHECK(archive.string_attribute("/", "format") == kArtifactFormat, "'", transforms_path_,
           "' is not a flatquant transforms artifact");
  FQ_CHECK(archive.string_attribute("/", "model_fingerprint") == checkpoint_.fingerprint(), "'", transforms_path_,
           "' was calibrated for another model (fingerprint ", archive.string_attribute("/", "model_fingerprint"),
           ") than '", checkpoint_.dir(), "' (", checkpoint_.fingerprint(), ")");
  quant_ = quant_settings_from_json(archive.json_attribute("/", "quant"), transforms_path_ + ": attribute 'quant'");
  const int64_t layers = checkpoint_.config().num_hidden_layers;
  FQ_CHECK(archive.int_attribute("/", "num_layers") == layers, "'", transforms_path_, "' holds ",
           archive.int_attribute("/", "num_layers"), " layers, the model ", layers);
  char group[32];
  for (int64_t i = 0; i < layers; ++i) {
    std::snprintf(group, sizeof group, "layer_%03lld", static_cast<long long>(i));
    if (archive.string_attribute(group, "status") != "calibrated") continue;
    flat::NamedTensors tensors;
    for (const std::string& name : archive.datasets(group)) tensors.emplace_back(name, archive.read(std::string(group) + "/" + name));
    layers_[i] = std::move(tensors);
  }
}

std::unique_ptr<model::LayerHooks> EvalModel::layer_hooks(int64_t layer, model::LayerWeights& weights) {
  if (method_ == EvalMethod::kFullPrecision) return nullptr;
  static const flat::NamedTensors kNone;
  auto it = layers_.find(layer);
  auto frozen = std::make_unique<flat::FrozenLayer>(checkpoint_.config(), layer, weights,
                                                    it == layers_.end() ? kNone : it->second, options_);
  const flat::WeightMemory& m = frozen->weight_memory();
  memory_[layer] = m;
  log::debug("eval", "layer weights", {{"layer", static_cast<long long>(layer)},
                                       {"int4_bytes", static_cast<long long>(m.int4_bytes)},
                                       {"bf16_bytes", static_cast<long long>(m.int4_as_bf16_bytes)},
                                       {"fake_linears", static_cast<long long>(m.fake_linears)}});
  return frozen;
}

model::HooksForLayer EvalModel::hooks() {
  if (method_ == EvalMethod::kFullPrecision) return {};
  return [this](int64_t layer, model::LayerWeights& weights) { return layer_hooks(layer, weights); };
}

flat::WeightMemory EvalModel::weight_memory() const {
  flat::WeightMemory total;
  for (const auto& [layer, m] : memory_) total += m;
  return total;
}

Json EvalModel::weight_memory_json(const flat::WeightMemory& memory) {
  return Json{{"int4_bytes", memory.int4_bytes},
              {"int4_as_bf16_bytes", memory.int4_as_bf16_bytes},
              {"int4_linears", memory.int4_linears},
              {"fake_linears", memory.fake_linears}};
}

Json EvalModel::describe() const {
  Json j{{"method", eval_method_name(method_)}, {"model", checkpoint_.dir()}};
  if (method_ != EvalMethod::kFullPrecision) j["backend"] = quant_backend_name(options_.backend);
  if (method_ != EvalMethod::kFullPrecision) j["quant"] = quant_settings_json(quant_);
  if (method_ == EvalMethod::kFlatQuant) {
    j["transforms"] = transforms_path_;
    j["calibrated_layers"] = static_cast<int64_t>(layers_.size());
  }
  return j;
}

}  // namespace fq::pipelines
