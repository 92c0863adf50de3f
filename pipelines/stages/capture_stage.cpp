#include "pipelines/stages/capture_stage.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "cluster/collectives.h"
#include "cluster/tensor_transfer.h"
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/core/log.h"
#include "lib/core/stop_flag.h"
#include "lib/core/stopwatch.h"
#include "lib/io/tokenizer.h"
#include "lib/model/causal_lm.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/layer_loader.h"
#include "lib/model/rope.h"
#include "lib/store/activation_reader.h"
#include "lib/store/activation_writer.h"
#include "lib/store/tensor_archive_reader.h"
#include "lib/store/tensor_archive_writer.h"
#include "pipelines/config/quant_options.h"
#include "pipelines/data/calibration_windows.h"

namespace fq::pipelines {
namespace {

store::ActivationShape activation_shape(const RunContext& ctx) {
  return {ctx.config.data.nsamples, ctx.config.data.seqlen, ctx.checkpoint.config().hidden_size};
}

store::ActivationReaderOptions reader_options(const RunContext& ctx, int64_t index) {
  store::ActivationReaderOptions o;
  o.expect.layer = index;
  o.expect.shape = activation_shape(ctx);
  o.expect.dtype = activation_dtype(ctx.config);
  o.expect.attributes = ctx.file_attributes();
  return o;
}

at::Tensor read_activations(const RunContext& ctx, int64_t index) {
  store::ActivationReader reader(ctx.layout.activations_path(index), reader_options(ctx, index));
  return reader.read(0, reader.shape().nsamples);
}

void write_activations(const RunContext& ctx, int64_t index, const at::Tensor& x) {
  store::ActivationWriterOptions o;
  o.attributes = ctx.file_attributes();
  store::ActivationWriter writer(ctx.layout.activations_path(index), index, activation_shape(ctx),
                                 activation_dtype(ctx.config), o);
  writer.write(0, x);
  writer.commit();
}

// The calibration windows, made once (windows.h5) so that a resumed run embeds exactly the same tokens.
at::Tensor calibration_tokens(const RunContext& ctx) {
  const std::string path = ctx.layout.windows_path();
  if (std::filesystem::exists(path)) {
    store::TensorArchiveReader archive(path);
    for (const auto& [key, value] : ctx.file_attributes()) {
      FQ_CHECK(archive.string_attribute("/", key) == value.text(), "'", path, "' belongs to another run (", key, ")");
    }
    return archive.read("input_ids");
  }
  const DataConfig& d = ctx.config.data;
  Stopwatch clock;
  const io::Tokenizer tokenizer = io::Tokenizer::from_model_dir(ctx.config.model);
  at::Tensor ids = calibration_windows({d.calibration, d.format, d.nsamples, d.seqlen, static_cast<uint64_t>(d.seed)},
                                       tokenizer);
  const int64_t vocab = ctx.checkpoint.config().vocab_size;
  FQ_CHECK(ids.max().item<int64_t>() < vocab, "the tokenizer of '", ctx.config.model, "' produced id ",
           ids.max().item<int64_t>(), " outside the model's vocab_size ", vocab);
  store::TensorArchiveWriter archive(path);
  archive.put("input_ids", ids);
  for (const auto& [key, value] : ctx.file_attributes()) archive.set_attribute("/", key, value);
  archive.set_attribute("/", "source", d.calibration);
  archive.commit();
  log::info("capture", "calibration windows", {{"windows", d.nsamples}, {"seqlen", d.seqlen},
                                               {"source", d.calibration}, {"secs", clock.seconds()}});
  return ids;
}

// Full-precision outputs of layer `layer` for all samples, computed micro-batch by micro-batch.
at::Tensor layer_outputs(const RunContext& ctx, int64_t layer, const at::Tensor& inputs) {
  const c10::ScalarType dtype = target_dtype(ctx.config);
  const model::LayerWeights weights = model::load_layer(ctx.checkpoint, layer, dtype, ctx.device);
  const io::ModelConfig& config = ctx.checkpoint.config();
  const model::RopeTables rope = model::RotaryEmbedding::for_model(config).tables(inputs.size(1), dtype, ctx.device);
  model::LayerHooks full_precision;
  at::NoGradGuard no_grad;
  at::Tensor out = at::empty(inputs.sizes(), inputs.options().dtype(activation_dtype(ctx.config)));
  const int64_t micro = std::max<int64_t>(1, ctx.config.flatquant.batch_size);
  for (int64_t begin = 0; begin < inputs.size(0); begin += micro) {
    if (ctx.should_stop ? ctx.should_stop() : stop_requested()) throw CaptureStopped{};
    const int64_t n = std::min(micro, inputs.size(0) - begin);
    at::Tensor x = inputs.narrow(0, begin, n).to(ctx.device, dtype);
    out.narrow(0, begin, n).copy_(model::layer_forward(config, weights, x, rope, full_precision));
  }
  return out;
}

at::Tensor embeddings(const RunContext& ctx) {
  const at::Tensor ids = calibration_tokens(ctx);
  model::ModelOptions o;
  o.dtype = target_dtype(ctx.config);
  o.device = ctx.device;
  at::NoGradGuard no_grad;
  return model::embed_tokens(ctx.checkpoint, ids, o).to(at::kCPU, activation_dtype(ctx.config));
}

}  // namespace

std::vector<bool> scan_activation_files(const RunContext& ctx) {
  const int64_t n = ctx.num_layers() + 1;
  std::string bits;
  if (ctx.world->is_root()) {
    for (int64_t i = 0; i < n; ++i) {
      bool ok = std::filesystem::exists(ctx.layout.activations_path(i));
      // Opening validates everything; a corrupt or foreign file is an error, not silently redone.
      if (ok) store::ActivationReader(ctx.layout.activations_path(i), reader_options(ctx, i));
      bits.push_back(ok ? '1' : '0');
    }
  }
  bits = cluster::broadcast_bytes(*ctx.world, bits, 0);
  std::vector<bool> have(n);
  for (int64_t i = 0; i < n; ++i) have[i] = bits[i] == '1';
  return have;
}

void run_capture(const RunContext& ctx, const std::vector<bool>& have) {
  const int rank = ctx.world->rank();
  const std::vector<int> layers = ctx.plan.layers_of_rank(rank);
  if (layers.empty() || ctx.plan.member_index(rank) != 0) return;
  const int first = layers.front(), end = layers.back() + 1;
  const int64_t total = ctx.num_layers();
  Stopwatch clock;
  at::Tensor current;  // the input of the next layer, when this rank holds it in memory
  // The hand-off: the previous block's owner computed our first input iff it was missing, and we need it
  // iff our first output is missing too. Both sides decide from the same scan.
  if (first > 0 && !have[first] && !have[first + 1]) {
    current = cluster::recv_tensor(*ctx.world, ctx.plan.owner_of_layer(first - 1), c10::kCPU, nullptr);
    if (current.numel() == 0) {  // the sender stopped: pass the stop along the chain
      request_stop(0);
      if (end < total && !have[end] && !have[end + 1]) {
        cluster::send_tensor(*ctx.world, at::empty({0}), ctx.plan.owner_of_layer(end));
      }
      throw CaptureStopped{};
    }
  }
  if (first == 0 && !have[0]) {
    current = embeddings(ctx);
    write_activations(ctx, 0, current);
  }
  try {
    for (int layer = first; layer < end; ++layer) {
      if (have[layer + 1]) {
        current = at::Tensor();
        continue;
      }
      if (!current.defined()) current = read_activations(ctx, layer);
      Stopwatch layer_clock;
      current = layer_outputs(ctx, layer, current);
      write_activations(ctx, layer + 1, current);
      const double done = static_cast<double>(layer - first + 1) / (end - first);
      log::info("capture", "layer done",
                {{"layer", std::to_string(layer + 1) + "/" + std::to_string(total)},
                 {"secs", layer_clock.seconds()},
                 {"eta_block", log::format_duration(clock.seconds() * (1 - done) / done)}});
    }
  } catch (const CaptureStopped&) {
    if (end < total && !have[end] && !have[end + 1]) {
      cluster::send_tensor(*ctx.world, at::empty({0}), ctx.plan.owner_of_layer(end));
    }
    throw;
  }
  if (end < total && !have[end] && !have[end + 1]) {
    FQ_ASSERT(current.defined(), "capture: the block's output is not in memory for the hand-off");
    cluster::send_tensor(*ctx.world, current, ctx.plan.owner_of_layer(end));
  }
}

}  // namespace fq::pipelines
