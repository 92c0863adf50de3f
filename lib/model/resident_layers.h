// Consecutive decoder layers [first, end) of a model, loaded once and kept in memory with their hooks.
// A stage of the pipelined evaluation holds its range for the whole run and passes every micro-batch
// through it; the layer-by-layer walk (run_decoder_layers) holds one layer at a time. Either way each
// layer runs through layer_forward_batches (prefixed batches: a shared prefix computed once per walk, or
// once for all the micro-batches of its rows).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/io/checkpoint.h"
#include "lib/model/causal_lm.h"
#include "lib/model/layer_hooks.h"
#include "lib/model/layer_weights.h"
#include "lib/model/prefix_kv.h"

namespace fq::model {

class ResidentLayers {
 public:
  // Loads layers [first, end) (0 <= first <= end <= num_hidden_layers) onto options.device in
  // options.dtype, and builds each layer's hooks from its weights (`hooks` may rewrite them in place).
  ResidentLayers(const io::Checkpoint& checkpoint, int64_t first, int64_t end, const ModelOptions& options,
                 const HooksForLayer& hooks = {});
  ResidentLayers(const ResidentLayers&) = delete;
  ResidentLayers& operator=(const ResidentLayers&) = delete;

  int64_t first() const { return first_; }
  int64_t end() const { return first_ + static_cast<int64_t>(layers_.size()); }

  // Every batch (tensors [.., hidden] in options.dtype on options.device) through layers first()..end() - 1,
  // in place, options.micro_batch sequences per layer call, under no-grad.
  void forward(std::vector<PrefixedBatch>& batches);

  // A pipeline's micro-batch: one batch through the layers, in place, its prefix's and stem's keys/values
  // kept per layer until the next call that brings them or `continues_prefix` false. A batch with a prefix
  // runs it and keeps its keys/values; one without attends to the kept prefix when `continues_prefix`
  // (the later micro-batches of rows that share it), else to none. A batch of one group (its first
  // micro-batch) runs the group's stem after the prefix and keeps both; the group's later micro-batches,
  // without groups, attend to them. The same layer calls as forward() on the rows of all those
  // micro-batches at once, cut by row_chunks.
  void forward_micro_batch(PrefixedBatch& batch, bool continues_prefix);

 private:
  struct Layer {
    LayerWeights weights;
    std::unique_ptr<LayerHooks> hooks;  // null: full precision
    KeptPrefixKv kept;                  // forward_micro_batch's kept prefix and stem (empty: none)
  };
  void check_shapes(const PrefixedBatch& batch) const;

  const io::ModelConfig& config_;
  ModelOptions options_;
  int64_t first_;
  std::vector<Layer> layers_;
  LayerHooks full_precision_;
};

}  // namespace fq::model
