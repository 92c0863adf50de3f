#include "lib/model/causal_lm.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/layer_loader.h"
#include "lib/model/rms_norm.h"
#include "lib/model/rope.h"

namespace fq::model {

at::Tensor embed_tokens(const io::Checkpoint& checkpoint, const at::Tensor& input_ids, const ModelOptions& options) {
  FQ_CHECK(input_ids.dim() == 2 && input_ids.size(0) > 0 && input_ids.size(1) > 0,
           "token windows must be a non-empty [n, seq] tensor, got ", input_ids.sizes());
  const int64_t vocab = checkpoint.config().vocab_size;
  at::Tensor ids = input_ids.to(options.device, at::kLong);
  FQ_CHECK(ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < vocab, "token ids must lie in [0, ", vocab,
           ") for checkpoint ", checkpoint.dir());
  at::NoGradGuard no_grad;
  return at::embedding(load_embedding(checkpoint, options.dtype, options.device), ids);
}

at::Tensor run_decoder_layers(const io::Checkpoint& checkpoint, const at::Tensor& hidden, const ModelOptions& options,
                              const HooksForLayer& hooks) {
  const io::ModelConfig& config = checkpoint.config();
  FQ_CHECK(options.micro_batch > 0, "micro_batch must be positive, got ", options.micro_batch);
  at::NoGradGuard no_grad;
  at::Tensor h = hidden.to(options.device, options.dtype).clone();
  const int64_t n = h.size(0);
  const RopeTables rope = RotaryEmbedding::for_model(config).tables(h.size(1), options.dtype, options.device);
  LayerHooks full_precision;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    LayerWeights weights = load_layer(checkpoint, layer, options.dtype, options.device);
    LayerHooks& layer_hooks = hooks ? hooks(layer, weights) : full_precision;
    for (int64_t i = 0; i < n; i += options.micro_batch) {
      const int64_t m = std::min(options.micro_batch, n - i);
      h.narrow(0, i, m).copy_(layer_forward(config, weights, h.narrow(0, i, m), rope, layer_hooks));
    }
    log::debug("forward", "layer done", {{"layer", layer}, {"sequences", n}});
  }
  return h;
}

at::Tensor OutputHead::logits(const at::Tensor& hidden) const {
  return at::linear(rms_norm(hidden, norm, eps), lm_head).to(at::kFloat);
}

OutputHead load_output_head(const io::Checkpoint& checkpoint, const ModelOptions& options) {
  return {load_final_norm(checkpoint, options.dtype, options.device),
          load_lm_head(checkpoint, options.dtype, options.device), checkpoint.config().rms_norm_eps};
}

at::Tensor causal_lm_logits(const io::Checkpoint& checkpoint, const at::Tensor& input_ids, const ModelOptions& options,
                            const HooksForLayer& hooks) {
  at::Tensor hidden = run_decoder_layers(checkpoint, embed_tokens(checkpoint, input_ids, options), options, hooks);
  at::NoGradGuard no_grad;
  return load_output_head(checkpoint, options).logits(hidden);
}

}  // namespace fq::model
