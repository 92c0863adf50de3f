#include "lib/model/causal_lm.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/layer_loader.h"
#include "lib/model/prefix_kv.h"
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

void layer_forward_batches(const io::ModelConfig& config, const LayerWeights& weights, LayerHooks& hooks,
                           std::vector<PrefixedBatch>& batches, int64_t micro_batch) {
  FQ_CHECK(micro_batch > 0, "micro_batch must be positive, got ", micro_batch);
  at::NoGradGuard no_grad;
  for (PrefixedBatch& batch : batches) {
    const int64_t n = batch.hidden.size(0), s = batch.hidden.size(1);
    const int64_t past = batch.prefix.defined() ? batch.prefix.size(1) : 0;
    const RopeTables rope =
        RotaryEmbedding::for_model(config).tables(past + s, batch.hidden.scalar_type(), batch.hidden.device());
    PrefixKv prefix_kv;
    if (past > 0) {
      FQ_CHECK(batch.prefix.dim() == 3 && batch.prefix.size(0) == 1,
               "a shared prefix is one sequence [1, P, hidden], got ", batch.prefix.sizes());
      const PrefixKvUse keep{nullptr, &prefix_kv};
      batch.prefix = layer_forward(config, weights, batch.prefix, rope.positions(0, past), hooks, keep);
    }
    const PrefixKvUse after{past > 0 ? &prefix_kv : nullptr, nullptr};
    for (int64_t i = 0; i < n; i += micro_batch) {
      const int64_t m = std::min(micro_batch, n - i);
      at::Tensor rows = batch.hidden.narrow(0, i, m);
      rows.copy_(layer_forward(config, weights, rows, rope, hooks, after));
    }
  }
}

std::vector<at::Tensor> run_decoder_layers(const io::Checkpoint& checkpoint, const std::vector<PrefixedBatch>& batches,
                                           const ModelOptions& options, const HooksForLayer& hooks) {
  const io::ModelConfig& config = checkpoint.config();
  // Owned copies in the compute dtype: the walk overwrites them layer by layer.
  std::vector<PrefixedBatch> states;
  int64_t sequences = 0;
  for (const PrefixedBatch& batch : batches) {
    states.push_back({batch.prefix.defined() ? batch.prefix.to(options.device, options.dtype).clone() : at::Tensor(),
                      batch.hidden.to(options.device, options.dtype).clone()});
    sequences += batch.hidden.size(0);
  }
  LayerHooks full_precision;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
    LayerWeights weights = load_layer(checkpoint, layer, options.dtype, options.device);
    LayerHooks& layer_hooks = hooks ? hooks(layer, weights) : full_precision;
    layer_forward_batches(config, weights, layer_hooks, states, options.micro_batch);
    log::debug("forward", "layer done", {{"layer", layer}, {"sequences", sequences}});
  }
  std::vector<at::Tensor> out;
  for (PrefixedBatch& state : states) out.push_back(std::move(state.hidden));
  return out;
}

at::Tensor run_decoder_layers(const io::Checkpoint& checkpoint, const at::Tensor& hidden, const ModelOptions& options,
                              const HooksForLayer& hooks) {
  return run_decoder_layers(checkpoint, std::vector<PrefixedBatch>{{at::Tensor(), hidden}}, options, hooks)[0];
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
