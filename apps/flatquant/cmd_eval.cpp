// `flatquant eval`: perplexity (and MMLU / C-Eval) of a model in full precision, with round-to-nearest
// W4A4, or with its calibrated FlatQuant transforms.
#include <iostream>


#include "apps/flatquant/cli.h"
#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/exit_codes.h"
#include "lib/core/json.h"
#include "lib/core/log.h"
#include "lib/io/checkpoint.h"
#include "lib/tensor/dtype.h"
#include "pipelines/config/run_config.h"
#include "pipelines/evaluate/choice_task.h"
#include "pipelines/evaluate/eval_model.h"
#include "pipelines/evaluate/perplexity_task.h"

namespace fq::cli {
namespace {

std::string option_or(const po::variables_map& vm, const char* key, const std::string& fallback) {
  const std::string v = vm[key].as<std::string>();
  return v.empty() ? fallback : v;
}

int run(const po::variables_map& vm) {
  // --run DIR fills in the model, the artifact and the evaluation text of a calibration run.
  pipelines::RunConfig run_config;
  std::string transforms;
  if (const std::string run_dir = vm["run"].as<std::string>(); !run_dir.empty()) {
    run_config = pipelines::load_run_config(run_dir + "/config.yaml", {});
    transforms = run_dir + "/transforms.h5";
  }
  const std::string model_dir = option_or(vm, "model", run_config.model);
  FQ_CHECK(!model_dir.empty(), "no model: pass --model DIR or --run DIR");
  transforms = option_or(vm, "transforms", transforms);
  const std::string method_name = option_or(vm, "method", transforms.empty() ? "fp" : "flatquant");
  const pipelines::EvalMethod method = pipelines::parse_eval_method(method_name, "--method");

  pipelines::QuantConfig rtn;
  rtn.w_bits = vm["w-bits"].as<int64_t>();
  rtn.a_bits = vm["a-bits"].as<int64_t>();
  rtn.w_asym = vm["w-asym"].as<bool>();
  rtn.a_asym = vm["a-asym"].as<bool>();
  rtn.k_bits = rtn.v_bits = vm["kv-bits"].as<int64_t>();

  const std::string device_name = vm["device"].as<std::string>();
  const bool cuda = device_name == "cuda" || (device_name == "auto" && at::hasCUDA());
  model::ModelOptions options;
  options.device = cuda ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  options.dtype = parse_float_dtype(option_or(vm, "dtype", cuda ? "bfloat16" : "float32"), "--dtype");
  options.micro_batch = vm["batch"].as<int64_t>();

  const flat::QuantBackend backend = pipelines::parse_quant_backend(vm["backend"].as<std::string>(), cuda, "--backend");

  io::Checkpoint checkpoint(model_dir);
  pipelines::EvalModel model(checkpoint, method, transforms, rtn, backend);
  Json report = model.describe();
  report["dtype"] = dtype_name(options.dtype);
  report["device"] = options.device.str();
  const std::string task = vm["task"].as<std::string>();
  const std::string report_path = vm["report"].as<std::string>();
  if (task == "ppl") {
    pipelines::PerplexityTask ppl{option_or(vm, "text", run_config.eval.text),
                                  vm["seqlen"].defaulted() && !vm["run"].as<std::string>().empty()
                                      ? run_config.eval.seqlen
                                      : vm["seqlen"].as<int64_t>()};
    FQ_CHECK(!ppl.text_path.empty(), "--task ppl needs --text FILE (or eval.text in the run's config)");
    report["result"] = pipelines::run_perplexity(checkpoint, model, ppl, options);
    report["perplexity"] = report["result"]["perplexity"];
    std::cout << "perplexity " << report["result"]["perplexity"].get<double>() << " (" << method_name << ", "
              << report["result"]["windows"].get<int64_t>() << " windows of " << ppl.seqlen << " tokens)\n";
  } else {
    pipelines::ChoiceTask choice;
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
    // Finished subjects survive an interruption beside the report; the same command resumes.
    if (!report_path.empty()) choice.state_path = report_path + ".state.json";
    report["result"] = pipelines::run_choice_task(checkpoint, model, choice, options);
    std::cout << pipelines::choice_results_table(report["result"]);
  }
  if (method != pipelines::EvalMethod::kFullPrecision) {
    // One model walk: the weight memory of every layer once.
    report["weight_memory"] = model.weight_memory_json();
    const flat::WeightMemory& m = model.weight_memory();
    log::info("eval", "quantized weight memory",
              {{"backend", pipelines::quant_backend_name(model.backend())},
               {"int4_bytes", static_cast<long long>(m.int4_bytes)},
               {"same_weights_bf16_bytes", static_cast<long long>(m.int4_as_bf16_bytes)},
               {"int4_linears", static_cast<long long>(m.int4_linears)},
               {"fake_linears", static_cast<long long>(m.fake_linears)}});
  }
  if (!report_path.empty()) write_json_file_atomic(report_path, report);
  return kExitOk;
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
       "mmlu/ceval: compute a subject's shared few-shot prefix once per layer (false: every prompt whole; the "
       "scores agree up to float summation order)")
      ("batch", po::value<int64_t>()->default_value(4), "windows per forward micro-batch")
      ("device", po::value<std::string>()->default_value("auto"), "auto | cpu | cuda")
      ("dtype", po::value<std::string>()->default_value(""), "compute dtype (default bfloat16 on CUDA, float32 on CPU)")
      ("backend", po::value<std::string>()->default_value("auto"),
       "quantized linears: fake (float GEMMs on fake-quantized weights) | int4 (packed int4 weights, W4A4 kernels) | "
       "auto (int4 on CUDA, fake on CPU)")
      ("w-bits", po::value<int64_t>()->default_value(4), "rtn: weight bits")
      ("a-bits", po::value<int64_t>()->default_value(4), "rtn: activation bits")
      ("w-asym", po::value<bool>()->default_value(false), "rtn: asymmetric weights")
      ("a-asym", po::value<bool>()->default_value(false), "rtn: asymmetric activations")
      ("kv-bits", po::value<int64_t>()->default_value(16), "rtn: K/V cache bits (16 = off)")
      ("report", po::value<std::string>()->default_value(""), "write the results as JSON here");
  po::variables_map vm;
  int code = 0;
  if (!parse("eval", "[--run DIR | --model DIR [--transforms FILE]] (--task ppl --text FILE | --task mmlu|ceval --data DIR)", options, args, &vm, &code)) {
    return code;
  }
  return run_guarded("eval", run, vm);
}

}  // namespace fq::cli
