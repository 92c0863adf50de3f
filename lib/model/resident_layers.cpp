#include "lib/model/resident_layers.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/model/layer_loader.h"

namespace fq::model {

ResidentLayers::ResidentLayers(const io::Checkpoint& checkpoint, int64_t first, int64_t end,
                               const ModelOptions& options, const HooksForLayer& hooks)
    : config_(checkpoint.config()),
      options_(options),
      first_(first) {
  FQ_CHECK(0 <= first && first <= end && end <= config_.num_hidden_layers, "layer range [", first, ", ", end,
           ") is not inside the ", config_.num_hidden_layers, " decoder layers of ", checkpoint.dir());
  layers_.reserve(static_cast<size_t>(end - first));  // hooks may keep pointers into the weights: no moves
  for (int64_t layer = first; layer < end; ++layer) {
    Layer& l =
        layers_.emplace_back(Layer{load_layer(checkpoint, layer, options.dtype, options.device), nullptr, {}});
    if (hooks) l.hooks = hooks(layer, l.weights);
  }
}

void ResidentLayers::check_shapes(const PrefixedBatch& batch) const {
  auto fits = [&](const at::Tensor& t) { return !t.defined() || (t.dim() == 3 && t.size(2) == config_.hidden_size); };
  FQ_CHECK(batch.hidden.dim() == 3 && fits(batch.hidden) && fits(batch.prefix), "decoder layers ", first_, "..",
           end() - 1, " take [batch, seq, ", config_.hidden_size, "] hidden states, got ", batch.hidden.sizes(),
           batch.prefix.defined() ? " after a prefix " : "",
           batch.prefix.defined() ? batch.prefix.sizes() : at::IntArrayRef());
  for (const at::Tensor& stem : batch.stems) {
    FQ_CHECK(fits(stem), "decoder layers ", first_, "..", end() - 1, " take [1, seq, ", config_.hidden_size,
             "] stems, got ", stem.sizes());
  }
}

void ResidentLayers::forward(std::vector<PrefixedBatch>& batches) {
  for (const PrefixedBatch& batch : batches) check_shapes(batch);
  for (Layer& l : layers_) {
    layer_forward_batches(config_, l.weights, l.hooks ? *l.hooks : full_precision_, batches, options_.micro_batch);
  }
}

void ResidentLayers::forward_micro_batch(PrefixedBatch& batch, bool continues_prefix) {
  check_shapes(batch);
  std::vector<PrefixedBatch> one{std::move(batch)};
  for (Layer& l : layers_) {
    if (!continues_prefix) l.kept = KeptPrefixKv{};  // a batch's prefix replaces it anyway
    layer_forward_batches(config_, l.weights, l.hooks ? *l.hooks : full_precision_, one, options_.micro_batch,
                          &l.kept);
  }
  batch = std::move(one[0]);
}

}  // namespace fq::model
