// Model-level forward: embedding, the decoder layers walked one at a time (load, run on every sequence,
// release), final norm and lm_head. Peak weight memory is one layer plus the embedding or the head.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "lib/io/checkpoint.h"
#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"

namespace fq::model {

struct ModelOptions {
  c10::ScalarType dtype = c10::kFloat;  // compute dtype of weights and activations
  c10::Device device = c10::kCPU;
  int64_t micro_batch = 8;  // sequences per layer call (bounds activation memory)
};

// The hooks of layer `layer` during a walk, given the layer's freshly loaded weights (which the hooks may
// rewrite in place, e.g. fold and quantize them); an empty function means the full-precision model.
using HooksForLayer = std::function<LayerHooks&(int64_t layer, LayerWeights& weights)>;

// input_ids: [n, s] int64 token windows, each its own sequence (positions 0..s-1). Returns [n, s, hidden].
at::Tensor embed_tokens(const io::Checkpoint& checkpoint, const at::Tensor& input_ids, const ModelOptions& options);

// hidden: [n, s, hidden] in options.dtype on options.device. Runs every decoder layer over all n sequences,
// options.micro_batch at a time, under no-grad; returns the last layer's output.
at::Tensor run_decoder_layers(const io::Checkpoint& checkpoint, const at::Tensor& hidden, const ModelOptions& options,
                              const HooksForLayer& hooks = {});

// Sequences that all begin with one prefix, computed once (prefix_kv.h). prefix: [1, P, hidden], positions
// 0..P-1 (undefined: no prefix, P = 0); hidden: [n, s, hidden], positions P..P+s-1 of each sequence.
struct PrefixedBatch {
  at::Tensor prefix;
  at::Tensor hidden;
};

// One decoder layer over every batch, in place (batches' tensors in the weights' dtype and device): a
// batch's prefix runs once, its keys/values kept for this layer only, then its sequences attend to them,
// `micro_batch` at a time. Under no-grad.
void layer_forward_batches(const io::ModelConfig& config, const LayerWeights& weights, LayerHooks& hooks,
                           std::vector<PrefixedBatch>& batches, int64_t micro_batch);

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

// Float32 logits [n, s, vocab] (on options.device) of the token windows input_ids [n, s].
at::Tensor causal_lm_logits(const io::Checkpoint& checkpoint, const at::Tensor& input_ids, const ModelOptions& options,
                            const HooksForLayer& hooks = {});

}  // namespace fq::model
