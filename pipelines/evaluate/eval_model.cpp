#include "pipelines/evaluate/eval_model.h"

#include <cstdio>

#include "lib/core/error.h"
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

EvalModel::EvalModel(const io::Checkpoint& checkpoint, EvalMethod method, const std::string& transforms_path,
                     const QuantConfig& rtn_quant)
    : checkpoint_(checkpoint), method_(method), transforms_path_(transforms_path), quant_(rtn_quant) {
  if (method != EvalMethod::kFlatQuant) {
    options_ = frozen_options(quant_);
    return;
  }
  FQ_CHECK(!transforms_path.empty(), "method flatquant needs a transforms.h5 (--transforms or --run)");
  store::TensorArchiveReader archive(transforms_path);
  FQ_CHECK(archive.string_attribute("/", "format") == kArtifactFormat, "'", transforms_path,
           "' is not a flatquant transforms artifact");
  FQ_CHECK(archive.string_attribute("/", "model_fingerprint") == checkpoint.fingerprint(), "'", transforms_path,
           "' was calibrated for another model (fingerprint ", archive.string_attribute("/", "model_fingerprint"),
           ") than '", checkpoint.dir(), "' (", checkpoint.fingerprint(), ")");
  quant_ = quant_settings_from_json(archive.json_attribute("/", "quant"), transforms_path + ": attribute 'quant'");
  options_ = frozen_options(quant_);
  const int64_t layers = checkpoint.config().num_hidden_layers;
  FQ_CHECK(archive.int_attribute("/", "num_layers") == layers, "'", transforms_path, "' holds ",
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

model::HooksForLayer EvalModel::hooks() {
  if (method_ == EvalMethod::kFullPrecision) return {};
  return [this](int64_t layer, model::LayerWeights& weights) -> model::LayerHooks& {
    static const flat::NamedTensors kNone;
    auto it = layers_.find(layer);
    current_.reset();  // release the previous layer's matrices before folding the next
    current_ = std::make_unique<flat::FrozenLayer>(checkpoint_.config(), layer, weights,
                                                   it == layers_.end() ? kNone : it->second, options_);
    return *current_;
  };
}

Json EvalModel::describe() const {
  Json j{{"method", eval_method_name(method_)}, {"model", checkpoint_.dir()}};
  if (method_ != EvalMethod::kFullPrecision) j["quant"] = quant_settings_json(quant_);
  if (method_ == EvalMethod::kFlatQuant) {
    j["transforms"] = transforms_path_;
    j["calibrated_layers"] = static_cast<int64_t>(layers_.size());
  }
  return j;
}

}  // namespace fq::pipelines
