#include "pipelines/stages/layer_calibration.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/core/seeded_rng.h"
#include "lib/core/stop_flag.h"
#include "lib/core/stopwatch.h"
#include "lib/flat/layer_statistics.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/rope.h"
#include "lib/quant/calibration_optimizer.h"

namespace fq::pipelines {
namespace {

// Samples [begin, begin + n) of a [nsamples, s, h] tensor on the compute device and dtype.
at::Tensor batch_of(const at::Tensor& all, int64_t begin, int64_t n, const LayerCalibrationSettings& s) {
  return all.narrow(0, begin, n).to(s.device, s.compute_dtype);
}

// The calibration loss: mean squared error in float32 whatever the compute dtype.
at::Tensor mse(const at::Tensor& out, const at::Tensor& target) {
  return (out.to(at::kFloat) - target.to(at::kFloat)).pow(2).mean();
}

// The quantized layer's MSE against the targets over the samples training uses (whole batches), without
// gradients, in passes of s.pass_size() samples.
double evaluate_mse(const io::ModelConfig& config, const model::LayerWeights& weights, flat::FlatLayer& flat,
                    const at::Tensor& inputs, const at::Tensor& targets, const model::RopeTables& rope,
                    const LayerCalibrationSettings& s) {
  at::NoGradGuard no_grad;
  flat.refresh();
  const int64_t used = inputs.size(0) / s.batch_size * s.batch_size;
  double total = 0;
  for (int64_t begin = 0; begin < used; begin += s.pass_size()) {
    const int64_t n = std::min(s.pass_size(), used - begin);
    at::Tensor out = model::layer_forward(config, weights, batch_of(inputs, begin, n, s), rope, flat);
    total += mse(out, batch_of(targets, begin, n, s)).item<double>() * static_cast<double>(n);
  }
  return total / static_cast<double>(used);
}

}  // namespace

void init_diag_scales(const io::ModelConfig& config, const model::LayerWeights& weights, flat::FlatLayer& flat,
                      const at::Tensor& inputs, const model::RopeTables& rope, const LayerCalibrationSettings& s) {
  at::NoGradGuard no_grad;
  flat::ActivationStatistics stats;
  for (int64_t begin = 0; begin < inputs.size(0); begin += s.pass_size()) {
    const int64_t n = std::min(s.pass_size(), inputs.size(0) - begin);
    model::layer_forward(config, weights, batch_of(inputs, begin, n, s), rope, stats);
  }
  auto weight_stats = flat::weight_column_absmax(weights);
  const flat::ExpertGroup& group = flat.expert_group();
  // A member holds a share of the routed experts: the statistics over all of them come from the group.
  if (group.active() && weight_stats.count(model::LinearGroup::kMoeIn)) {
    weight_stats[model::LinearGroup::kMoeIn] =
        flat::gather_members(group, weight_stats[model::LinearGroup::kMoeIn]).amax(0);
  }
  for (model::LinearGroup group : flat.diag_groups()) {
    flat.init_diag(group, weight_stats.at(group).to(s.device), stats.group_absmax().at(group), s.diag_alpha);
  }
  if (flat.has_routed_down_diag()) {
    at::Tensor weight_absmax = flat::routed_down_weight_absmax(weights).to(s.device);
    at::Tensor act_absmax = stats.routed_down_absmax();
    if (group.active()) {
      weight_absmax = flat::gather_expert_rows(group, weight_absmax, config.n_routed_experts);
      act_absmax = flat::gather_expert_rows(group, act_absmax, config.n_routed_experts);
    }
    flat.init_routed_down_diag(weight_absmax, act_absmax, s.diag_alpha);
  }
}

double calibration_step(const io::ModelConfig& config, const model::LayerWeights& weights, flat::FlatLayer& flat,
                        quant::CalibrationOptimizer& optimizer, const model::RopeTables& rope,
                        const at::Tensor& input, const at::Tensor& target, int64_t micro_batch) {
  const int64_t batch = input.size(0);
  if (micro_batch <= 0 || micro_batch >= batch) {
    flat.refresh();
    at::Tensor loss = mse(model::layer_forward(config, weights, input, rope, flat), target);
    const double value = loss.item<double>();
    optimizer.step(loss);
    return value;
  }
  for (int64_t begin = 0; begin < batch; begin += micro_batch) {
    const int64_t n = std::min(micro_batch, batch - begin);
    flat.refresh();  // each part's backward frees its graph, the transform matrices' included
    at::Tensor out = model::layer_forward(config, weights, input.narrow(0, begin, n), rope, flat);
    optimizer.accumulate(mse(out, target.narrow(0, begin, n)), static_cast<double>(n) / batch);
  }
  return optimizer.step_accumulated();
}

LayerCalibrationResult calibrate_layer(const io::ModelConfig& config, int64_t layer,
                                       const model::LayerWeights& weights, const at::Tensor& inputs,
                                       const at::Tensor& targets, const LayerCalibrationSettings& s) {
  FQ_CHECK(inputs.sizes() == targets.sizes(), "layer ", layer, ": inputs ", inputs.sizes(), " and targets ",
           targets.sizes(), " differ in shape");
  FQ_CHECK(s.batch_size >= 1 && inputs.size(0) >= s.batch_size, "layer ", layer, ": batch size ", s.batch_size,
           " needs at least that many samples, have ", inputs.size(0));
  Stopwatch clock;
  LayerCalibrationResult result;
  const model::RopeTables rope =
      model::RotaryEmbedding::for_model(config).tables(inputs.size(1), s.compute_dtype, s.device);
  at::Generator gen = at::detail::createCPUGenerator(derive_seed(s.seed, static_cast<uint64_t>(layer)));
  flat::FlatOptions options = s.options;
  flat::FlatLayer flat(config, layer, options, gen, s.device, s.expert_group);
  if (s.smoothquant_init && options.diag_scale) init_diag_scales(config, weights, flat, inputs, rope, s);

  result.mse_before = evaluate_mse(config, weights, flat, inputs, targets, rope, s);
  const int64_t steps_per_epoch = inputs.size(0) / s.batch_size;
  const int64_t total_steps = std::max<int64_t>(1, s.epochs * steps_per_epoch);
  quant::TrainableParameters params = flat.trainable_parameters();
  result.trainable_params = params.numel();
  const std::string layer_text = std::to_string(layer + 1) + "/" + std::to_string(s.num_layers);
  log::info("calibrate", "layer start",
            {{"layer", layer_text}, {"params", result.trainable_params}, {"mse_before", result.mse_before},
             {"steps", total_steps}});
  if (s.epochs > 0 && params.numel() > 0) {
    quant::CalibrationOptimizer optimizer(params, {s.lr, total_steps, s.warmup});
    optimizer.set_before_update([&flat] { flat.reduce_expert_shared_gradients(); });
    for (int64_t epoch = 0; epoch < s.epochs; ++epoch) {
      double epoch_loss = 0;
      for (int64_t j = 0; j < steps_per_epoch; ++j) {
        if (s.should_stop ? s.should_stop() : stop_requested()) throw CalibrationStopped{};
        epoch_loss += calibration_step(config, weights, flat, optimizer, rope,
                                       batch_of(inputs, j * s.batch_size, s.batch_size, s),
                                       batch_of(targets, j * s.batch_size, s.batch_size, s), s.micro_batch);
        ++result.steps;
      }
      const double done = static_cast<double>(epoch + 1) / s.epochs;
      log::info("calibrate", "epoch",
                {{"layer", layer_text}, {"epoch", std::to_string(epoch + 1) + "/" + std::to_string(s.epochs)},
                 {"loss", epoch_loss / steps_per_epoch}, {"lr", optimizer.current_lr()},
                 {"elapsed", log::format_duration(clock.seconds())},
                 {"eta_layer", log::format_duration(clock.seconds() * (1 - done) / done)}});
      if (s.on_epoch) {
        s.on_epoch(Json{{"layer", layer}, {"epoch", epoch + 1}, {"epochs", s.epochs},
                        {"loss", epoch_loss / steps_per_epoch}, {"elapsed", clock.seconds()}});
      }
    }
  }
  result.mse_after = evaluate_mse(config, weights, flat, inputs, targets, rope, s);
  result.frozen = flat.export_frozen();
  result.seconds = clock.seconds();
  return result;
}

}  // namespace fq::pipelines
