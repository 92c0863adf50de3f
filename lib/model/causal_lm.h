// Model-level forward: embedding, the decoder layers walked one at a time (load, run on every sequence,
// release), final norm and lm_head. Peak weight memory is one layer plus the embedding or the head.
// A pipeline stage that keeps a range of layers instead: resident_layers.h; both run each layer through
// layer_forward_batches.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "lib/io/checkpoint.h"
#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"
#include "lib/model/prefix_kv.h"

namespace fq::model {

struct ModelOptions {
  c10::ScalarType dtype = c10::kFloat;  // compute dtype of weights and activations
  c10::Device device = c10::kCPU;
  int64_t micro_batch = 8;  // sequences per layer call (bounds activation memory)
};

// Builds the hooks of layer `layer` from the layer's freshly loaded weights (which the hooks may rewrite
// in place, e.g. fold and quantize them). The caller owns the result and keeps it as long as the weights;
// an empty function or a null result means the full-precision layer.
using HooksForLayer = std::function<std::unique_ptr<LayerHooks>(int64_t layer, LayerWeights& weights)>;

// Sequences that all begin with one prefix, computed once (prefix_kv.h). prefix: [1, P, hidden], positions
// 0..P-1 (undefined: no prefix, P = 0); hidden: [n, s, hidden], positions P..P+s-1 of each sequence.
// Rows that share more than the prefix (a question's four options) come in groups: consecutive rows,
// group_rows[g] of them after their own stem stems[g] [1, Q_g, hidden] (positions P..P+Q_g-1, undefined:
// none), computed once after the prefix; the group's rows then hold positions P+Q_g..P+Q_g+s-1. No groups
// (both empty): every row follows the prefix directly.
struct PrefixedBatch {
  at::Tensor prefix;
  at::Tensor hidden;
  std::vector<at::Tensor> stems{};  // {} here: {prefix, hidden} initializes a batch without groups
  std::vector<int64_t> group_rows{};
};

// The token form of a PrefixedBatch: prefix [P] int64 (undefined: none), the rows' own tokens ids [n, s]
// int64 that follow it (each row its own sequence, right-padded to one length), and the groups' stems [Q_g]
// int64 between the two.
struct PrefixedTokenRows {
  at::Tensor prefix;
  at::Tensor ids;
  std::vector<at::Tensor> stems{};  // {} here: {prefix, ids} initializes rows without groups
  std::vector<int64_t> group_rows{};
};

// The layer calls of a batch's rows: at most micro_batch rows each, cut within each group (the rows of one
// call share their past). The walk, the pipeline (one micro-batch per chunk) and the results all cut so.
struct RowChunk {
  int64_t offset = 0;  // first row
  int64_t rows = 0;
  int64_t group = -1;  // -1: the batch has no groups
  bool starts_group = false;
};
// n rows in groups of group_rows (empty: no groups; else summing to n).
std::vector<RowChunk> row_chunks(int64_t n, const std::vector<int64_t>& group_rows, int64_t micro_batch);

// model.embed_tokens, loaded once: a pipeline's first stage embeds micro-batch after micro-batch.
struct TokenEmbedding {
  at::Tensor weight;           // [vocab, hidden]
  std::string checkpoint_dir;  // named by the token-range error
  // input_ids: [n, s] int64 token windows, each its own sequence -> [n, s, hidden] on the weight's device.
  at::Tensor embed(const at::Tensor& input_ids) const;
  // Every part of `rows`: prefix [1, P, hidden] (when there is one), hidden [n, s, hidden], the stems
  // [1, Q_g, hidden] (each when there is one) and the groups.
  PrefixedBatch embed(const PrefixedTokenRows& rows) const;
};
TokenEmbedding load_token_embedding(const io::Checkpoint& checkpoint, const ModelOptions& options);

// input_ids: [n, s] int64 token windows, each its own sequence (positions 0..s-1). Returns [n, s, hidden].
at::Tensor embed_tokens(const io::Checkpoint& checkpoint, const at::Tensor& input_ids, const ModelOptions& options);

// One decoder layer over every batch, in place (batches' tensors in the weights' dtype and device): a
// batch's prefix runs once, its keys/values kept for this layer only, then its sequences attend to them,
// `micro_batch` at a time. Under no-grad. The one walk of a layer: the layer-by-layer walk and the
// pipeline stages (resident_layers.h) both call it.
// A group's stem runs once after the prefix, keeping prefix and stem as one prefix for the group's rows.
// `kept` (one batch only): the keys/values outlive the call there. A batch with a prefix stores them into
// kept->prefix; one without continues the prefix kept->prefix holds (none if empty). A group's stem goes
// into kept->stem (emptied for a group without one); a batch without groups continues kept->stem when it
// holds one, else kept->prefix. So a pipeline stage runs a prefix with the first micro-batch of its rows,
// a stem with the first of its group (a batch of that one group), and the later ones after them.
void layer_forward_batches(const io::ModelConfig& config, const LayerWeights& weights, LayerHooks& hooks,
                           std::vector<PrefixedBatch>& batches, int64_t micro_batch, KeptPrefixKv* kept = nullptr);

// hidden: [n, s, hidden] in options.dtype on options.device. Runs every decoder layer over all n sequences,
// options.micro_batch at a time, under no-grad; returns the last layer's output.
at::Tensor run_decoder_layers(const io::Checkpoint& checkpoint, const at::Tensor& hidden, const ModelOptions& options,
                              const HooksForLayer& hooks = {});

// run_decoder_layers over several prefixed batches, each layer loaded once for all of them; returns each
// batch's sequences [n, s, hidden] after the last layer. A batch's outputs equal those of its whole
// sequences (prefix then sequence) at positions P.., up to float summation order.
std::vector<at::Tensor> run_decoder_layers(const io::Checkpoint& checkpoint, const std::vector<PrefixedBatch>& batches,
                                           const ModelOptions& options, const HooksForLayer& hooks = {});

// Final RMSNorm and lm_head.
struct OutputHead {
  at::Tensor norm;     // [hidden]
  at::Tensor lm_head;  // [vocab, hidden]
  double eps = 1e-6;
  // hidden: [..., hidden] -> float32 logits [..., vocab] (the head runs in the compute dtype, as HF's does).
  at::Tensor logits(const at::Tensor& hidden) const;
};
OutputHead load_output_head(const io::Checkpoint& checkpoint, const ModelOptions& options);

// What a task keeps of one micro-batch: the token rows first_row .. first_row + m - 1 of those handed over,
// their own tokens ids [m, s] (after the batch's prefix, if any), and their last decoder layer's output
// hidden [m, s, hidden] (positions P..P+s-1) -> a small result per row [m, ...] on the CPU (a window's NLL,
// a question's option scores). Computing it per micro-batch means full-vocabulary logits never exist for
// more than micro_batch rows.
using RowResults = std::function<at::Tensor(const OutputHead& head, int64_t first_row, const at::Tensor& ids,
                                            const at::Tensor& hidden)>;

// The layer-by-layer walk of the batches of token rows `walk` (embed, run_decoder_layers: each layer loaded
// once for all of them), then the output head, loaded once the layers are released, and `results` on each
// micro-batch of each batch (row_chunks), the rows numbered batch after batch from
// `first_row`; returns the results concatenated in that order, [rows, ...].
at::Tensor walk_token_rows(const io::Checkpoint& checkpoint, const std::vector<PrefixedTokenRows>& walk,
                           const ModelOptions& options, const HooksForLayer& hooks, const RowResults& results,
                           int64_t first_row = 0);

// Float32 logits [n, s, vocab] (on options.device) of the token windows input_ids [n, s].
at::Tensor causal_lm_logits(const io::Checkpoint& checkpoint, const at::Tensor& input_ids, const ModelOptions& options,
                            const HooksForLayer& hooks = {});

}  // namespace fq::model
