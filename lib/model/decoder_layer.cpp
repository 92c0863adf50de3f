#include "lib/model/decoder_layer.h"

#include "lib/core/error.h"
#include "lib/model/deepseek_layer.h"
#include "lib/model/llama_layer.h"

namespace fq::model {

at::Tensor layer_forward(const io::ModelConfig& config, const LayerWeights& weights, const at::Tensor& x,
                         const RopeTables& rope, LayerHooks& hooks, const PrefixKvUse& prefix) {
  if (const auto* llama = std::get_if<LlamaLayerWeights>(&weights)) {
    FQ_CHECK(config.family == io::ModelFamily::kLlama, "LLaMA layer weights given with a ", config.model_type,
             " config");
    return llama_layer_forward(config, *llama, x, rope, hooks, prefix);
  }
  FQ_CHECK(config.family == io::ModelFamily::kDeepseekV3, "DeepSeek V3 layer weights given with a ", config.model_type,
           " config");
  return deepseek_layer_forward(config, std::get<DeepseekLayerWeights>(weights), x, rope, hooks, prefix);
}

}  // namespace fq::model
