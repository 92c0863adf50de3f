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
  PrefixedBatch batch{rows.prefix.defined() ? embed(rows.prefix.unsqueeze(0)) : at::Tensor(), embed(rows.ids), {},
                      rows.group_rows};
  for (const at::Tensor& stem : rows.stems) {
    FQ_CHECK(!stem.defined() || stem.dim() == 1, "a group's stem is one token sequence [Q], got ", stem.sizes());
    batch.stems.push_back(stem.defined() ? embed(stem.unsqueeze(0)) : at::Tensor());
  }
  return batch;
}

TokenEmbedding load_token_embedding(const io::Checkpoint& checkpoint, const ModelOptions& options) {
  return {load_embedding(checkpoint, options.dtype, options.device), checkpoint.dir()};
}

at::Tensor embed_tokens(const io::Checkpoint& checkpoint, const at::Tensor& input_ids, const ModelOptions& options) {
  return load_token_embedding(checkpoint, options).embed(input_ids);
}

std::vector<RowChunk> row_chunks(int64_t n, const std::vector<int64_t>& group_rows, int64_t micro_batch) {
  FQ_CHECK(micro_batch > 0, "micro_batch must be positive, got ", micro_batch);
  std::vector<RowChunk> chunks;
  if (group_rows.empty()) {
    for (int64_t i = 0; i < n; i += micro_batch) chunks.push_back({i, std::min(micro_batch, n - i), -1, false});
    return chunks;
  }
  int64_t offset = 0;
  for (size_t g = 0; g < group_rows.size(); ++g) {
    FQ_CHECK(group_rows[g] > 0, "group ", g, " of a batch has ", group_rows[g], " rows");
    for (int64_t i = 0; i < group_rows[g]; i += micro_batch) {
      chunks.push_back({offset + i, std::min(micro_batch, group_rows[g] - i), static_cast<int64_t>(g), i == 0});
    }
    offset += group_rows[g];
  }
  FQ_CHECK(offset == n, "the groups of a batch hold ", offset, " rows, the batch ", n);
  return chunks;
}

void layer_forward_batches(const io::ModelConfig& config, const LayerWeights& weights, LayerHooks& hooks,
                           std::vector<PrefixedBatch>& batches, int64_t micro_batch, KeptPrefixKv* kept) {
  FQ_CHECK(kept == nullptr || batches.size() == 1, "prefix keys/values are kept for one batch, got ", batches.size());
  at::NoGradGuard no_grad;
  const RotaryEmbedding rotary = RotaryEmbedding::for_model(config);
  for (PrefixedBatch& batch : batches) {
    KeptPrefixKv own;
    KeptPrefixKv& kv = kept ? *kept : own;
    FQ_CHECK(batch.stems.size() == batch.group_rows.size(), "a batch has one stem per group, got ", batch.stems.size(),
             " stems for ", batch.group_rows.size(), " groups");
    const int64_t s = batch.hidden.size(1);
    const int64_t past = batch.prefix.defined() ? batch.prefix.size(1)
                         : kv.prefix.key.defined() ? kv.prefix.key.size(2)
                                                   : 0;
    // Tables of positions 0..count-1, made again only when a call needs another length (another stem).
    RopeTables rope;
    auto rope_for = [&](int64_t count) -> const RopeTables& {
      if (!rope.cos.defined() || rope.cos.size(0) != count) {
        rope = rotary.tables(count, batch.hidden.scalar_type(), batch.hidden.device());
      }
      return rope;
    };
    if (batch.prefix.defined()) {
      FQ_CHECK(batch.prefix.dim() == 3 && batch.prefix.size(0) == 1 && past > 0,
               "a shared prefix is one sequence [1, P, hidden], got ", batch.prefix.sizes());
      kv.stem = PrefixKv{};
      batch.prefix = layer_forward(config, weights, batch.prefix, rope_for(past + s).positions(0, past), hooks,
                                   PrefixKvUse{nullptr, &kv.prefix});
    }
    const PrefixKv* prefix_kv = past > 0 ? &kv.prefix : nullptr;
    for (const RowChunk& chunk : row_chunks(batch.hidden.size(0), batch.group_rows, micro_batch)) {
      if (chunk.starts_group) {
        kv.stem = PrefixKv{};
        at::Tensor& stem = batch.stems[static_cast<size_t>(chunk.group)];
        if (stem.defined()) {
          FQ_CHECK(stem.dim() == 3 && stem.size(0) == 1 && stem.size(1) > 0,
                   "a group's stem is one sequence [1, Q, hidden], got ", stem.sizes());
          const int64_t through = past + stem.size(1);
          stem = layer_forward(config, weights, stem, rope_for(through + s).positions(0, through), hooks,
                               PrefixKvUse{prefix_kv, &kv.stem});
        }
      }
      const PrefixKv* after = kv.stem.key.defined() ? &kv.stem : prefix_kv;
      at::Tensor rows = batch.hidden.narrow(0, chunk.offset, chunk.rows);
      rows.copy_(layer_forward(config, weights, rows, rope_for((after ? after->key.size(2) : 0) + s), hooks,
                               PrefixKvUse{after, nullptr}));
    }
  }
}

std::vector<at::Tensor> run_decoder_layers(const io::Checkpoint& checkpoint, const std::vector<PrefixedBatch>& batches,
                                           const ModelOptions& options, const HooksForLayer& hooks) {
  // Owned copies in the compute dtype: the walk overwrites them layer by layer.
  std::vector<PrefixedBatch> states;
  int64_t sequences = 0;
  for (const PrefixedBatch& batch : batches) {
    auto owned = [&](const at::Tensor& t) { return t.defined() ? t.to(options.device, options.dtype).clone() : t; };
    PrefixedBatch& state =
        states.emplace_back(PrefixedBatch{owned(batch.prefix), owned(batch.hidden), {}, batch.group_rows});
    for (const at::Tensor& stem : batch.stems) state.stems.push_back(owned(stem));
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
    for (const RowChunk& c : row_chunks(ids.size(0), walk[b].group_rows, options.micro_batch)) {
      out.push_back(results(head, first_row, ids.narrow(0, c.offset, c.rows), hidden[b].narrow(0, c.offset, c.rows)));
      first_row += c.rows;
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
