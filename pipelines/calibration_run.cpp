#include "pipelines/calibration_run.h"

#include <filesystem>

#include "cluster/collectives.h"
#include "cluster/device_select.h"
#include "cluster/mpi_world.h"
#include "cluster/nccl_comm.h"
#include "cluster/peer_stop.h"
#include "cluster/polling_barrier.h"
#include "cluster/root_task.h"
#include "cluster/run_lock.h"
#include "cluster/shard_plan.h"
#include "cluster/stop_signals.h"
#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/exit_codes.h"
#include "lib/core/log.h"
#include "lib/core/stopwatch.h"
#include "pipelines/run/layer_cost.h"
#include "pipelines/run/layer_file_status.h"
#include "pipelines/run/progress_board.h"
#include "pipelines/stages/calibrate_stage.h"
#include "pipelines/stages/capture_stage.h"
#include "pipelines/stages/gather_stage.h"
#include "pipelines/stages/layer_calibration.h"

namespace fq::pipelines {
namespace {

constexpr double kProgressIntervalSeconds = 30;

// Status of every layer ("calibrated", "skipped", "") as rank 0 sees them, the same on every rank.
std::vector<std::string> scan_layer_statuses(const RunContext& ctx) {
  Json statuses = Json::array();
  cluster::run_on_root(*ctx.world, [&] {
    for (int64_t i = 0; i < ctx.num_layers(); ++i) statuses.push_back(layer_file_status(ctx.layout, ctx.file_attributes(), i));
  });
  statuses = Json::parse(cluster::broadcast_bytes(*ctx.world, statuses.dump(), 0));
  return statuses.get<std::vector<std::string>>();
}

cluster::ShardPlan make_plan(const RunContext& ctx, const std::vector<std::string>& statuses) {
  cluster::ShardRequest request;
  const io::ModelConfig& model = ctx.checkpoint.config();
  for (int64_t i = 0; i < ctx.num_layers(); ++i) {
    const bool nothing_to_do = !statuses[i].empty() || ctx.config.layer_skipped(i, ctx.num_layers());
    request.layer_costs.push_back(nothing_to_do ? 0.0 : layer_parameter_count(model, i));
  }
  request.world_size = ctx.world->size();
  request.expert_group_size = static_cast<int>(ctx.config.distributed.expert_parallel);
  request.num_experts = static_cast<int>(model.n_routed_experts);
  request.node_of_rank = ctx.world->node_of_rank();
  return cluster::make_shard_plan(request);
}

// The whole run on this rank; run_calibration() decides what an error does to the other ranks.
int calibrate_on_rank(cluster::MpiWorld& world, const CalibrationRequest& request) {
  cluster::install_stop_signal_handlers();
  Stopwatch clock;
  RunConfig config = load_run_config(request.config_path, request.overrides);
  if (!request.out_dir.empty()) config.output_dir = std::filesystem::absolute(request.out_dir).lexically_normal();
  FQ_CHECK(!config.output_dir.empty(), "no output directory: pass --out DIR or set output_dir in the config");
  FQ_CHECK(!config.model.empty(), "config key 'model' is empty: name a Hugging Face checkpoint directory");

  RunContext ctx{config, RunLayout(config.output_dir), io::Checkpoint(config.model), {}, &world, nullptr, nullptr,
                 c10::kCPU, {}, {}, {}};
  ctx.identity = {ctx.checkpoint.fingerprint(), calibration_hash(config),
                  ctx.checkpoint.config().num_hidden_layers, ctx.checkpoint.config().model_type};
  std::error_code ec;
  std::filesystem::create_directories(ctx.layout.dir(), ec);
  // The lock first: a job refused here must not write into the running job's logs.
  auto lock = cluster::lock_run_directory(world, ctx.layout.dir());
  log::set_json_sink(ctx.layout.dir() + (world.is_root() ? "/log.jsonl" : "/log.r" + std::to_string(world.rank()) + ".jsonl"));
  ctx.device = cluster::select_device(world, config.distributed.device, "config key 'distributed.device'");
  auto nccl = cluster::make_nccl_comm(world, ctx.device);
  ctx.nccl = nccl.get();
  cluster::run_on_root(world, [&] {
    ctx.layout.prepare();
    open_or_create_manifest(ctx.layout.manifest_path(), ctx.identity);
    write_file_atomic(ctx.layout.config_path(), run_config_yaml(config));
  });
  const std::vector<std::string> statuses = scan_layer_statuses(ctx);
  ctx.plan = make_plan(ctx, statuses);
  const cluster::GroupComm expert_group(world, ctx.plan.group_of_rank(world.rank()));
  ctx.expert_group = &expert_group;
  if (world.is_root()) {
    update_manifest(ctx.layout.manifest_path(), Json{{"plan", ctx.plan.to_json()}});
    log::info("plan", "sharding plan\n" + ctx.plan.table(),
              {{"ranks", world.size()}, {"layers", ctx.num_layers()}, {"device", ctx.device.str()}});
  }

  cluster::PeerStopChannel peer_stop(world);
  ctx.should_stop = [&peer_stop] { return peer_stop.should_stop(); };
  ProgressBoard board(ctx.layout, world.rank(), world.size(), ctx.num_layers());
  board.publish(Json{{"stage", "capture"}});  // replaces the state a previous run left
  ctx.on_progress = [&](const Json& state) {
    board.publish(state);
    if (world.is_root() && world.size() > 1) log::info("progress", board.summary());
  };

  try {
    if (request.stage == "all" || request.stage == "capture") {
      // Only activations that some layer still to calibrate needs (its input and its target).
      std::vector<bool> have = scan_activation_files(ctx);
      int64_t last_needed = -1;
      for (int64_t i = 0; i < ctx.num_layers(); ++i) {
        if (statuses[i].empty() && !config.layer_skipped(i, ctx.num_layers())) last_needed = i;
      }
      for (size_t i = last_needed + 2; i < have.size(); ++i) have[i] = true;
      run_capture(ctx, have);
    }
    if (request.stage == "all" || request.stage == "calibrate") run_calibrate(ctx);
  } catch (const CaptureStopped&) {
    log::warn("capture", "stopped on request");
    // The other members of an expert-parallel group wait in run_calibrate's first stop decision.
    if (ctx.plan.expert_group_size > 1 && (request.stage == "all" || request.stage == "calibrate")) {
      expert_group.any(true);
    }
  } catch (const CalibrationStopped&) {
    log::warn("calibrate", "stopped on request; the layer in progress will be redone");
  }
  board.publish(Json{{"stage", "waiting"}});
  cluster::polling_barrier(world, kProgressIntervalSeconds, [&] {
    if (world.is_root()) log::info("progress", board.summary());
  });
  if (world.is_root() && world.size() > 1) log::info("progress", board.summary());
  if (cluster::any_rank_stop_requested(world)) {
    if (world.is_root()) {
      log::warn("calibrate", "stopped; every completed layer is saved. Run the same command to resume",
                {{"exit_code", kExitResume}, {"elapsed", log::format_duration(clock.seconds())}});
    }
    return kExitResume;
  }
  if (request.stage == "all" || request.stage == "gather") {
    cluster::run_on_root(world, [&] { gather_transforms(ctx.layout, ctx.identity, config); });
  }
  if (world.is_root()) {
    log::info("calibrate", "done", {{"elapsed", log::format_duration(clock.seconds())},
                                     {"artifact", ctx.layout.transforms_path()}});
  }
  return kExitOk;
}

}  // namespace

int run_calibration(const CalibrationRequest& request) {
  return cluster::run_with_world([&](cluster::MpiWorld& world) { return calibrate_on_rank(world, request); });
}

}  // namespace fq::pipelines
