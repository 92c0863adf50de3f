#include "pipelines/stages/calibrate_stage.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/core/stopwatch.h"
#include "lib/model/layer_loader.h"
#include "lib/store/activation_reader.h"
#include "lib/store/tensor_archive_writer.h"
#include "pipelines/config/quant_options.h"
#include "pipelines/run/layer_file_status.h"
#include "pipelines/stages/layer_calibration.h"

namespace fq::pipelines {
namespace {

at::Tensor read_all(const RunContext& ctx, int64_t index) {
  store::ActivationReaderOptions o;
  o.expect.layer = index;
  o.expect.attributes = ctx.file_attributes();
  store::ActivationReader reader(ctx.layout.activations_path(index), o);
  return reader.read(0, reader.shape().nsamples);
}

void write_layer_file(const RunContext& ctx, int64_t layer, const std::string& status,
                      const LayerCalibrationResult* result) {
  store::TensorArchiveWriter archive(ctx.layout.layer_params_path(layer));
  for (const auto& [key, value] : ctx.file_attributes()) archive.set_attribute("/", key, value);
  archive.set_attribute("/", "layer", layer);
  archive.set_attribute("/", "status", status);
  if (result) {
    for (const auto& [name, tensor] : result->frozen) archive.put(name, tensor);
    archive.set_attribute("/", "mse_before", result->mse_before);
    archive.set_attribute("/", "mse_after", result->mse_after);
    archive.set_attribute("/", "seconds", result->seconds);
    archive.set_attribute("/", "steps", result->steps);
    archive.set_attribute("/", "trainable_params", result->trainable_params);
  }
  archive.commit();
}

LayerCalibrationSettings settings_for(const RunContext& ctx) {
  const FlatQuantConfig& f = ctx.config.flatquant;
  LayerCalibrationSettings s;
  s.options = flat_options(ctx.config);
  s.epochs = f.epochs;
  s.batch_size = f.batch_size;
  s.micro_batch = f.micro_batch;
  s.lr = f.lr;
  s.warmup = f.warmup;
  s.smoothquant_init = f.diag_init == "sq_style";
  s.diag_alpha = f.diag_alpha;
  s.seed = static_cast<uint64_t>(f.seed);
  s.compute_dtype = compute_dtype(ctx.config);
  s.device = ctx.device;
  s.num_layers = ctx.num_layers();
  s.should_stop = ctx.should_stop;
  return s;
}

}  // namespace

void run_calibrate(const RunContext& ctx) {
  const int rank = ctx.world->rank();
  const bool leader = ctx.plan.member_index(rank) == 0;
  const cluster::GroupComm* group = ctx.plan.expert_group_size > 1 ? ctx.expert_group : nullptr;
  FQ_ASSERT(ctx.plan.expert_group_size == 1 || group != nullptr, "expert-parallel plan without a group communicator");
  LayerCalibrationSettings settings = settings_for(ctx);
  if (group) {
    // Every member of the group works on every layer of the block in step: a MoE layer with its experts
    // split (summed over the group), a dense one redundantly (the leader writes the files). Stops are
    // group decisions, so that no member waits in a collective for one that left; the first one also
    // meets a leader whose capture stopped (calibration_run.cpp).
    if (group->any(ctx.should_stop())) throw CalibrationStopped{};
    settings.should_stop = [&ctx, group] { return group->any(ctx.should_stop()); };
  }
  const int64_t total = ctx.num_layers();
  const std::vector<int> layers = ctx.plan.layers_of_rank(rank);
  double cost_total = 0, cost_done = 0;
  for (int layer : layers) cost_total += ctx.plan.layer_costs[layer];
  int64_t layers_done = 0;
  auto publish = [&](Json state) {
    if (!ctx.on_progress) return;
    state["stage"] = "calibrate";
    state["layers_done"] = layers_done;
    state["layers"] = static_cast<int64_t>(layers.size());
    state["cost_total"] = cost_total;
    if (!state.contains("cost_done")) state["cost_done"] = cost_done;
    ctx.on_progress(state);
  };
  for (int layer : layers) {
    const std::string progress = std::to_string(layer + 1) + "/" + std::to_string(total);
    const std::string done = layer_file_status(ctx.layout, ctx.file_attributes(), layer);
    if (!done.empty() || ctx.config.layer_skipped(layer, total)) {
      if (done.empty() && leader) {
        write_layer_file(ctx, layer, "skipped", nullptr);
        log::info("calibrate", "layer skipped (identity transforms)", {{"layer", progress}});
      } else {
        log::info("calibrate", "layer already " + done, {{"layer", progress}});
      }
      ++layers_done;
      continue;
    }
    publish(Json{{"layer", layer}});
    const double layer_cost = ctx.plan.layer_costs[layer];
    settings.on_epoch = [&](const Json& epoch) {
      Json state = epoch;
      state["cost_done"] = cost_done + layer_cost * epoch["epoch"].get<double>() / epoch["epochs"].get<double>();
      publish(state);
    };
    Stopwatch clock;
    const at::Tensor inputs = read_all(ctx, layer);
    const at::Tensor targets = read_all(ctx, layer + 1);
    const bool split_experts = group && ctx.checkpoint.config().is_moe_layer(layer);
    settings.expert_group = {};
    if (split_experts) {
      settings.expert_group.member = group->rank();
      settings.expert_group.members = group->size();
      for (int e : ctx.plan.experts_of_rank(rank)) settings.expert_group.experts.push_back(e);
      settings.expert_group.allreduce_sum = [group](at::Tensor& t) { group->allreduce_sum_(t); };
    }
    const model::LayerWeights weights = model::load_layer(ctx.checkpoint, layer, settings.compute_dtype, ctx.device,
                                                          settings.expert_group.experts);
    LayerCalibrationResult result =
        calibrate_layer(ctx.checkpoint.config(), layer, weights, inputs, targets, settings);
    if (leader) write_layer_file(ctx, layer, "calibrated", &result);
    cost_done += layer_cost;
    ++layers_done;
    publish(Json{{"layer", layer}});
    log::info("calibrate", "layer done",
              {{"layer", progress},
               {"mse_before", result.mse_before},
               {"mse_after", result.mse_after},
               {"ratio", result.mse_before / std::max(result.mse_after, 1e-30)},
               {"secs", clock.seconds()}});
  }
  publish(Json::object());  // the block's final count, also when every layer was done before
}

}  // namespace fq::pipelines
