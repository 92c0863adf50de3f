// `flatquant eval`: perplexity (and MMLU / C-Eval) of a model in full precision, with round-to-nearest
// W4A4, or with its calibrated FlatQuant transforms; on one process or pipelined over the ranks of an MPI
// job (mpirun -np N, srun).
#include "apps/flatquant/cli.h"
#include "lib/core/error.h"
#include "pipelines/config/run_config.h"
#include "pipelines/evaluate/eval_run.h"

namespace fq::cli {
namespace {

std::string option_or(const po::variables_map& vm, const char* key, const std::string& fallback) {
  const std::string v = vm[key].as<std::string>();
  return v.empty() ? fallback : v;
}

int run(const po::variables_map& vm) {
  // --run DIR fills in the model, the artifact and the evaluation text of a calibration run.
  pipelines::RunConfig run_config;
  pipelines::EvalRequest request;
  if (const std::string run_dir = vm["run"].as<std::string>(); !run_dir.empty()) {
    run_config = pipelines::load_run_config(run_dir + "/config.yaml", {});
    request.transforms = run_dir + "/transforms.h5";
  }
  request.model_dir = option_or(vm, "model", run_config.model);
  FQ_CHECK(!request.model_dir.empty(), "no model: pass --model DIR or --run DIR");
  request.transforms = option_or(vm, "transforms", request.transforms);
  request.method =
      pipelines::parse_eval_method(option_or(vm, "method", request.transforms.empty() ? "fp" : "flatquant"), "--method");

  request.rtn.w_bits = vm["w-bits"].as<int64_t>();
  request.rtn.a_bits = vm["a-bits"].as<int64_t>();
  request.rtn.w_asym = vm["w-asym"].as<bool>();
  request.rtn.a_asym = vm["a-asym"].as<bool>();
  request.rtn.k_bits = request.rtn.v_bits = vm["kv-bits"].as<int64_t>();
  request.device = vm["device"].as<std::string>();
  request.dtype = vm["dtype"].as<std::string>();
  request.micro_batch = vm["batch"].as<int64_t>();
  request.backend = vm["backend"].as<std::string>();
  request.residency = pipelines::parse_layer_residency(vm["layers"].as<std::string>(), "--layers");
  request.report_path = vm["report"].as<std::string>();

  const std::string task = vm["task"].as<std::string>();
  if (task == "ppl") {
    request.ppl = {option_or(vm, "text", run_config.eval.text),
                   vm["seqlen"].defaulted() && !vm["run"].as<std::string>().empty() ? run_config.eval.seqlen
                                                                                     : vm["seqlen"].as<int64_t>()};
    FQ_CHECK(!request.ppl.text_path.empty(), "--task ppl needs --text FILE (or eval.text in the run's config)");
  } else {
    request.multiple_choice = true;
    pipelines::ChoiceTask& choice = request.choice_task;
    choice.benchmark = pipelines::parse_choice_benchmark(task, "--task");
    choice.data.dir = vm["data"].as<std::string>();
    FQ_CHECK(!choice.data.dir.empty(), "--task ", task, " needs --data DIR (the benchmark's released layout)");
    choice.data.split = vm["split"].as<std::string>();
    choice.data.limit = vm["limit"].as<int64_t>();
    for (std::string rest = vm["subjects"].as<std::string>(); !rest.empty();) {
      const size_t comma = rest.find(',');
      choice.data.subjects.push_back(rest.substr(0, comma));
      rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    }
    choice.shots = static_cast<int>(vm["shots"].as<int64_t>());
    choice.scoring = pipelines::parse_choice_scoring(vm["scoring"].as<std::string>(), "--scoring");
    choice.max_tokens = vm["seqlen"].as<int64_t>();
    choice.reuse_prefix = vm["reuse-prefix"].as<bool>();
    choice.sequences_per_walk = vm["walk-sequences"].as<int64_t>();
    FQ_CHECK(choice.sequences_per_walk > 0, "--walk-sequences must be positive, got ", choice.sequences_per_walk);
    // Finished subjects survive an interruption beside the report; the same command resumes.
    if (!request.report_path.empty()) choice.state_path = request.report_path + ".state.json";
  }
  return pipelines::run_evaluation(request);
}

}  // namespace

int cmd_eval(const std::vector<std::string>& args) {
  po::options_description options("eval options");
  options.add_options()
      ("run", po::value<std::string>()->default_value(""), "calibration run directory (model, transforms.h5, eval.text)")
      ("model", po::value<std::string>()->default_value(""), "Hugging Face checkpoint directory")
      ("transforms", po::value<std::string>()->default_value(""), "transforms.h5 of a calibration run")
      ("method", po::value<std::string>()->default_value(""), "fp | rtn | flatquant (default: flatquant with transforms, else fp)")
      ("task", po::value<std::string>()->default_value("ppl"), "ppl | mmlu | ceval")
      ("text", po::value<std::string>()->default_value(""), "ppl: perplexity corpus (plain text)")
      ("seqlen", po::value<int64_t>()->default_value(2048), "ppl: window (tokens); mmlu/ceval: longest prompt (shots dropped beyond)")
      ("data", po::value<std::string>()->default_value(""), "mmlu/ceval: dataset root ({dev,val,test}/<subject>_<split>.csv)")
      ("split", po::value<std::string>()->default_value(""), "mmlu/ceval: split evaluated (default: mmlu test, ceval val)")
      ("shots", po::value<int64_t>()->default_value(5), "mmlu/ceval: solved dev questions before each question")
      ("scoring", po::value<std::string>()->default_value("letter"), "mmlu/ceval: letter (answer letters' logits) | loglik (each option's log-likelihood)")
      ("subjects", po::value<std::string>()->default_value(""), "mmlu/ceval: comma-separated subjects (default: all)")
      ("limit", po::value<int64_t>()->default_value(0), "mmlu/ceval: questions per subject (0: all)")
      ("reuse-prefix", po::value<bool>()->default_value(true),
       "mmlu/ceval: compute a subject's shared few-shot prefix once per layer, and with loglik each question once "
       "for its four options (false: every prompt whole; the scores agree up to float summation order)")
      ("walk-sequences", po::value<int64_t>()->default_value(256),
       "mmlu/ceval: prompts per pass through the layers (bounds activation memory); consecutive subjects share a "
       "pass until it holds this many, and finished subjects are saved after each")
      ("batch", po::value<int64_t>()->default_value(4), "windows per forward micro-batch (what flows between ranks)")
      ("device", po::value<std::string>()->default_value("auto"), "auto | cpu | cuda (each rank: the GPU of its node-local rank)")
      ("dtype", po::value<std::string>()->default_value(""), "compute dtype (default bfloat16 on CUDA, float32 on CPU)")
      ("backend", po::value<std::string>()->default_value("auto"),
       "quantized linears: fake (float GEMMs on fake-quantized weights) | int4 (packed int4 weights, W4A4 kernels) | "
       "auto (int4 on CUDA, fake on CPU)")
      ("layers", po::value<std::string>()->default_value("auto"),
       "one rank: resident (build every layer once, keep it for every pass through the model: MMLU/C-Eval make one "
       "per walk) | stream (load each layer again for every pass; one layer's weights in memory) | auto (resident "
       "when the estimated weights fit in 80% of the device's available memory). Several ranks: always resident")
      ("w-bits", po::value<int64_t>()->default_value(4), "rtn: weight bits")
      ("a-bits", po::value<int64_t>()->default_value(4), "rtn: activation bits")
      ("w-asym", po::value<bool>()->default_value(false), "rtn: asymmetric weights")
      ("a-asym", po::value<bool>()->default_value(false), "rtn: asymmetric activations")
      ("kv-bits", po::value<int64_t>()->default_value(16), "rtn: K/V cache bits (16 = off)")
      ("report", po::value<std::string>()->default_value(""), "write the results as JSON here");
  po::variables_map vm;
  int code = 0;
  const std::string synopsis =
      "[--run DIR | --model DIR [--transforms FILE]] (--task ppl --text FILE | --task mmlu|ceval --data DIR)\n\n"
      "Start several ranks with mpirun -np N or srun: each keeps a contiguous block of layers resident and the\n"
      "micro-batches flow through them as a pipeline (at most one rank per decoder layer).\n"
      "MMLU/C-Eval keep finished subjects in REPORT.state.json; SIGTERM or SIGUSR1 stops after the current subject\n"
      "with exit 75, and the same command continues.";
  if (!parse("eval", synopsis, options, args, &vm, &code)) {
    return code;
  }
  return run_guarded("eval", run, vm);
}

}  // namespace fq::cli
