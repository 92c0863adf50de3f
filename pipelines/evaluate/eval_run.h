// `flatquant eval` on every rank of a job (mpirun, srun, or one process): the MPI world, each rank's device
// (the GPU of its node-local rank) and NCCL between GPUs, the model, the task, and rank 0's report. One
// rank walks the model layer by layer; several form the pipeline of eval_forward.h.
#pragma once

#include <string>

#include "pipelines/config/run_config.h"
#include "pipelines/evaluate/choice_task.h"
#include "pipelines/evaluate/eval_model.h"
#include "pipelines/evaluate/layer_residency.h"
#include "pipelines/evaluate/perplexity_task.h"

namespace fq::pipelines {

struct EvalRequest {
  std::string model_dir;
  std::string transforms;  // kFlatQuant: the artifact
  EvalMethod method = EvalMethod::kFullPrecision;
  QuantConfig rtn;                // kRtn: the quantizers
  std::string device = "auto";   // auto | cpu | cuda (option --device)
  std::string dtype;             // compute dtype; empty: bfloat16 on CUDA, float32 on the CPU
  int64_t micro_batch = 4;       // sequences per forward micro-batch
  std::string backend = "auto";  // auto | fake | int4
  LayerResidency residency = LayerResidency::kAuto;  // one rank: layers built once or per pass (option --layers)
  bool multiple_choice = false;  // false: `ppl`; true: `choice_task` (mmlu, ceval)
  PerplexityTask ppl;
  ChoiceTask choice_task;
  std::string report_path;  // rank 0 writes the JSON report here ("" = none)
};

// Returns kExitOk, or kExitResume when a stop signal (SIGTERM, SIGUSR1, SIGINT) ended an MMLU / C-Eval run
// between subjects, the finished ones saved in the state file (choice_task.h). Throws fq::Error for bad input; in a job of several ranks an error on any rank ends the
// job (MPI_Abort, after the message) instead of leaving the others waiting.
int run_evaluation(const EvalRequest& request);

}  // namespace fq::pipelines
