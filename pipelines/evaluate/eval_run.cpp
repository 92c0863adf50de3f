#include "pipelines/evaluate/eval_run.h"

#include <iostream>

#include "cluster/device_select.h"
#include "cluster/mpi_world.h"
#include "cluster/nccl_comm.h"
#include "cluster/stop_signals.h"
#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/exit_codes.h"
#include "lib/core/log.h"
#include "lib/io/checkpoint.h"
#include "lib/tensor/dtype.h"
#include "pipelines/evaluate/eval_forward.h"

namespace fq::pipelines {
namespace {

int evaluate_on_rank(const cluster::MpiWorld& world, const EvalRequest& request) {
  const c10::Device device = cluster::select_device(world, request.device, "--device");
  model::ModelOptions options;
  options.device = device;
  options.dtype = parse_float_dtype(
      request.dtype.empty() ? (device.is_cuda() ? "bfloat16" : "float32") : request.dtype, "--dtype");
  options.micro_batch = request.micro_batch;
  const flat::QuantBackend backend = parse_quant_backend(request.backend, device.is_cuda(), "--backend");
  cluster::NcclCommPtr nccl = world.size() > 1 ? cluster::make_nccl_comm(world, device) : nullptr;

  io::Checkpoint checkpoint(request.model_dir);
  EvalModel model(checkpoint, request.method, request.transforms, request.rtn, backend);
  EvalForward forward(checkpoint, model, options, request.residency, &world, nccl.get());
  Json report = model.describe();
  report["dtype"] = dtype_name(options.dtype);
  report["device"] = device.str();
  report["ranks"] = world.size();
  report["layers"] = forward.layers_resident() ? "resident" : "stream";
  if (!request.multiple_choice) {
    report["result"] = run_perplexity(checkpoint, forward, request.method, request.ppl);
    if (world.is_root()) {
      report["perplexity"] = report["result"]["perplexity"];
      std::cout << "perplexity " << report["result"]["perplexity"].get<double>() << " ("
                << eval_method_name(request.method) << ", " << report["result"]["windows"].get<int64_t>()
                << " windows of " << request.ppl.seqlen << " tokens)\n";
    }
  } else {
    try {
      report["result"] = run_choice_task(checkpoint, forward, model, request.choice_task);
    } catch (const ChoiceTaskStopped&) {
      if (world.is_root() && request.choice_task.state_path.empty()) {
        log::warn("eval", "stopped on request; without --report no subject results were kept",
                  {{"exit_code", kExitResume}});
      } else if (world.is_root()) {
        log::warn("eval", "stopped on request; the finished subjects are saved. Run the same command to resume",
                  {{"state", request.choice_task.state_path}, {"exit_code", kExitResume}});
      }
      return kExitResume;
    }
    if (world.is_root()) std::cout << choice_results_table(report["result"]);
  }
  forward.log_stage_summary();
  if (request.method != EvalMethod::kFullPrecision) {
    // Every layer once, whichever rank holds it.
    const flat::WeightMemory m = forward.weight_memory();
    report["weight_memory"] = EvalModel::weight_memory_json(m);
    if (world.is_root()) {
      log::info("eval", "quantized weight memory",
                {{"backend", quant_backend_name(model.backend())},
                 {"int4_bytes", static_cast<long long>(m.int4_bytes)},
                 {"same_weights_bf16_bytes", static_cast<long long>(m.int4_as_bf16_bytes)},
                 {"int4_linears", static_cast<long long>(m.int4_linears)},
                 {"fake_linears", static_cast<long long>(m.fake_linears)}});
    }
  }
  if (world.is_root() && !request.report_path.empty()) write_json_file_atomic(request.report_path, report);
  return kExitOk;
}

}  // namespace

int run_evaluation(const EvalRequest& request) {
  // MMLU / C-Eval stop between subjects (Slurm's pre-timeout USR1, preemption's TERM) and resume from the
  // state file; a perplexity run has no partial state, so the signals keep their default (end it now).
  if (request.multiple_choice) cluster::install_stop_signal_handlers();
  return cluster::run_with_world([&](cluster::MpiWorld& world) { return evaluate_on_rank(world, request); });
}

}  // namespace fq::pipelines
