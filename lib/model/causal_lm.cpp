#include "lib/model/causal_lm.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/layer_loader.h"
#include "lib/model/prefix_kv.h"
#include "lib/model/resident_layers.h"
#include "lib/model/rms_norm.h"
#include "lib/model/rope.h"

namespace fq::model {

at::Tensor TokenEmbedding::embed(const at::Tensor& input_ids) const {
  FQ_CHECK(input_ids.dim() == 2 && input_ids.size(0) > 0 && input_ids.size(1) > 0,
           "token windows must be a non-empty [n, seq] tensor, got ", input_ids.sizes());
  const int64_t vocab = weight.size(0);
  at::Tensor ids = input_ids.to(weight.device(), at::kLong);
  FQ_CHECK(ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < vocab, "token ids must lie in [0, ", vocab,
           ") for checkpoint ", checkpoint_dir);
  at::NoGradGuard no_grad;
  return at::embedding(weight, ids);
}

PrefixedBatch TokenEmbedding::embed(const PrefixedTokenRows& rows) const {
  FQ_CHECK(!rows.prefix.defined() || rows.prefix.dim() == 1, "a shared prefix is one token sequence [P], got ",
           rows.prefix.sizes());
  return {rows.prefix.defined() ? embed(rows.prefix.unsqueeze(0)) : at::Tensor(), embed(rows.ids)};
}

TokenEmbedding load_token_embedding(const io::Checkpoint& checkpoint, const ModelOptions& options) {
  return {load_embedding(checkpoint, options.dtype, options.device), checkpoint.dir()};
}

at::Tensor embed_tokens(const io::Checkpoint& checkpoint, const at::Tensor& input_ids, const ModelOptions& options) {
  return load_token_embedding(checkpoint, options).embed(input_ids);
}

void layer_forward_batches(const io::ModelConfig& config, const LayerWeights& weights, LayerHooks& hooks,
                           std::vector<PrefixedBatch>& batches, int64_t micro_batch, PrefixKv* kept) {
  FQ_CHECK(micro_batch > 0, "micro_batch must be positive, got ", micro_batch);
  FQ_CHECK(kept == nullptr || batches.size() == 1, "prefix keys/values are kept for one batch, got ", batches.size());
  at::NoGradGuard no_grad;
  for (PrefixedBatch& batch : batches) {
    PrefixKv own;
    PrefixKv& prefix_kv = kept ? *kept : own;
    const int64_t n = batch.hidden.size(0), s = batch.hidden.size(1);
    const int64_t past = batch.prefix.defined() ? batch.prefix.size(1)
                         : prefix_kv.key.defined() ? prefix_kv.key.size(2)
                                                   : 0;
    const RopeTables rope =
        RotaryEmbedding::for_model(config).tables(past + s, batch.hidden.scalar_type(), batch.hidden.device());
    if (batch.prefix.defined()) {
      FQ_CHECK(batch.prefix.dim() == 3 && batch.prefix.size(0) == 1 && past > 0,
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
  // Owned copies in the compute dtype: the walk overwrites them layer by layer.
  std::vector<PrefixedBatch> states;
  int64_t sequences = 0;
  for (const PrefixedBatch& batch : batches) {
    states.push_back({batch.prefix.defined() ? batch.prefix.to(options.device, options.dtype).clone() : at::Tensor(),
                      batch.hidden.to(options.device, options.dtype).clone()});
    sequences += batch.hidden.size(0);
  }
  for (int64_t layer = 0; layer < checkpoint.config().num_hidden_layers; ++layer) {
    ResidentLayers one(checkpoint, layer, layer + 1, options, hooks);  // released before the next is loaded
    one.forward(states);
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

at::Tensor walk_token_rows(const io::Checkpoint& checkpoint, const std::vector<PrefixedTokenRows>& walk,
                           const ModelOptions& options, const HooksForLayer& hooks, const RowResults& results,
                           int64_t first_row) {
  FQ_CHECK(!walk.empty(), "a walk needs at least one batch of token rows");
  std::vector<at::Tensor> hidden;
  {
    const TokenEmbedding embedding = load_token_embedding(checkpoint, options);  // released before the layers
    std::vector<PrefixedBatch> batches;
    for (const PrefixedTokenRows& rows : walk) batches.push_back(embedding.embed(rows));
    hidden = run_decoder_layers(checkpoint, batches, options, hooks);
  }
  at::NoGradGuard no_grad;
  const OutputHead head = load_output_head(checkpoint, options);
  std::vector<at::Tensor> out;
  for (size_t b = 0; b < walk.size(); ++b) {
    const at::Tensor& ids = walk[b].ids;
    for (int64_t i = 0; i < ids.size(0); i += options.micro_batch) {
      const int64_t m = std::min(options.micro_batch, ids.size(0) - i);
      out.push_back(results(head, first_row, ids.narrow(0, i, m), hidden[b].narrow(0, i, m)));
      first_row += m;
    }
  }
  return at::cat(out);
}

at::Tensor causal_lm_logits(const io::Checkpoint& checkpoint, const at::Tensor& input_ids, const ModelOptions& options,
                            const HooksForLayer& hooks) {
  at::Tensor hidden = run_decoder_layers(checkpoint, embed_tokens(checkpoint, input_ids, options), options, hooks);
  at::NoGradGuard no_grad;
  return load_output_head(checkpoint, options).logits(hidden);
}

}  // namespace fq::model
