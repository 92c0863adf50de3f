#include "pipelines/config/run_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <limits>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/fingerprint.h"
#include "pipelines/config/config_schema.h"

namespace fq::pipelines {
namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int64_t>::max();

void bind_quant(ConfigSchema& s, QuantConfig& q) {
  s.add("quant.w_bits", &q.w_bits, "weight bits (16 = not quantized)", 2, 16);
  s.add("quant.w_asym", &q.w_asym, "asymmetric weight quantization");
  s.add("quant.w_mse", &q.w_mse, "MSE-grid weight scales at evaluation (not with lwc)");
  s.add("quant.w_quantizer", &q.w_quantizer, "weight quantizer at evaluation", {"rtn"});
  s.add("quant.a_bits", &q.a_bits, "activation bits of every linear input", 2, 16);
  s.add("quant.a_asym", &q.a_asym, "asymmetric activation quantization");
  s.add("quant.q_bits", &q.q_bits, "query bits (LLaMA; 16 = off)", 2, 16);
  s.add("quant.q_asym", &q.q_asym, "asymmetric query quantization");
  s.add("quant.k_bits", &q.k_bits, "K-cache bits (LLaMA; 16 = off)", 2, 16);
  s.add("quant.k_asym", &q.k_asym, "asymmetric K-cache quantization");
  s.add("quant.k_groupsize", &q.k_groupsize, "K-cache group size (head_dim in the paper)", 1, kMaxInt);
  s.add("quant.v_bits", &q.v_bits, "V-cache bits (LLaMA; 16 = off)", 2, 16);
  s.add("quant.v_asym", &q.v_asym, "asymmetric V-cache quantization");
  s.add("quant.v_groupsize", &q.v_groupsize, "V-cache group size (head_dim in the paper)", 1, kMaxInt);
}

void bind_flatquant(ConfigSchema& s, FlatQuantConfig& f) {
  s.add("flatquant.learn_transforms", &f.learn_transforms, "train the transforms (cali_trans)");
  s.add("flatquant.diag_scale", &f.diag_scale, "per-channel diag scale before each Kronecker transform (add_diag)");
  s.add("flatquant.diag_init", &f.diag_init, "diag scale initialisation", {"sq_style", "one_style"});
  s.add("flatquant.diag_alpha", &f.diag_alpha, "SmoothQuant alpha of the diag initialisation", 0.0, 1.0);
  s.add("flatquant.direct_inverse", &f.direct_inverse, "free transform factors inverted in float64 instead of U diag(s) V^T");
  s.add("flatquant.lwc", &f.lwc, "learnable weight clipping");
  s.add("flatquant.lac", &f.lac, "learnable activation clipping");
  s.add("flatquant.epochs", &f.epochs, "epochs over the calibration windows per layer", 0, 100000);
  s.add("flatquant.lr", &f.lr, "transform learning rate (clipping uses 10x)", 1e-12, 10.0);
  s.add("flatquant.batch_size", &f.batch_size, "windows per optimisation step", 1, 1 << 20);
  s.add("flatquant.micro_batch", &f.micro_batch,
        "windows per forward/backward pass, gradients accumulated over the batch (same update, less memory; "
        "0: the whole batch)", 0, 1 << 20);
  s.add("flatquant.warmup", &f.warmup, "linear learning-rate warm-up over the first 16 steps");
  s.add("flatquant.compute_dtype", &f.compute_dtype, "training math dtype", {"bfloat16", "float16", "float32"});
  s.add("flatquant.activation_dtype", &f.activation_dtype, "stored activation dtype",
        {"bfloat16", "float16", "float32"});
  s.add("flatquant.target_dtype", &f.target_dtype, "full-precision forward dtype of the capture",
        {"bfloat16", "float16", "float32"});
  s.add("flatquant.seed", &f.seed, "seed of the transform initialisation", 0, kMaxInt);
  s.add("flatquant.skip_layers", &f.skip_layers, "layer indices left with identity transforms");
  s.add("flatquant.skip_last", &f.skip_last, "skip the last N layers (the reference's --v3_not_last = 2)", 0, kMaxInt);
}

void bind_slurm(ConfigSchema& s, SlurmConfig& c) {
  s.add("slurm.job_name", &c.job_name, "sbatch --job-name");
  s.add("slurm.nodes", &c.nodes, "sbatch --nodes", 1, 100000);
  s.add("slurm.ntasks_per_node", &c.ntasks_per_node, "ranks per node", 1, 1024);
  s.add("slurm.gpus_per_node", &c.gpus_per_node, "GPUs per node (0: CPU job)", 0, 1024);
  s.add("slurm.cpus_per_task", &c.cpus_per_task, "CPU cores per rank", 1, 4096);
  s.add("slurm.memory", &c.memory, "sbatch --mem per node (0: all; empty: the cluster default)");
  s.add("slurm.time", &c.time, "time limit (HH:MM:SS or D-HH:MM:SS)");
  s.add("slurm.partition", &c.partition, "partition (empty: the cluster default)");
  s.add("slurm.account", &c.account, "account (empty: none)");
  s.add("slurm.exclusive", &c.exclusive, "whole nodes (sbatch --exclusive)");
  s.add("slurm.requeue", &c.requeue, "requeue on preemption and resume");
  s.add("slurm.signal", &c.signal, "pre-timeout signal (sbatch --signal)");
  s.add("slurm.launcher", &c.launcher, "how ranks start inside the allocation", {"srun", "mpirun"});
  s.add("slurm.output", &c.output, "sbatch --output pattern (%x job name, %j job id); relative: in the run directory");
  s.add("slurm.setup", &c.setup, "shell lines the job runs before launching the ranks (module load ...)");
}

}  // namespace

bool RunConfig::layer_skipped(int64_t layer, int64_t num_layers) const {
  if (layer >= num_layers - flatquant.skip_last) return true;
  return std::find(flatquant.skip_layers.begin(), flatquant.skip_layers.end(), layer) != flatquant.skip_layers.end();
}

void bind_run_config(ConfigSchema& s, RunConfig& c) {
  s.add_path("model", &c.model, "Hugging Face checkpoint directory (config.json, safetensors, tokenizer.json)");
  s.add_path("output_dir", &c.output_dir, "run directory (overridden by --out)");
  s.add_path("data.calibration", &c.data.calibration, "calibration text: .txt, .jsonl with a text field, or token ids");
  s.add("data.format", &c.data.format, "calibration file format", {"auto", "text", "jsonl", "tokens"});
  s.add("data.nsamples", &c.data.nsamples, "calibration windows", 1, 1 << 24);
  s.add("data.seqlen", &c.data.seqlen, "tokens per calibration window", 2, 1 << 24);
  s.add("data.seed", &c.data.seed, "seed of the window positions", 0, kMaxInt);
  bind_quant(s, c.quant);
  bind_flatquant(s, c.flatquant);
  s.add("moe.routed_down_transform", &c.moe.routed_down_transform,
        "one down transform for all routed experts, or one per expert", {"shared", "per_expert"});
  s.add("moe.expert_act_quantizers", &c.moe.expert_act_quantizers,
        "routed-expert activation quantizers (clipping) shared or per expert", {"shared", "per_expert"});
  s.add_path("eval.text", &c.eval.text, "perplexity corpus (empty: none)");
  s.add("eval.seqlen", &c.eval.seqlen, "perplexity window length", 2, 1 << 24);
  s.add("eval.batch_size", &c.eval.batch_size, "windows per evaluation batch", 1, 1 << 20);
  s.add("distributed.expert_parallel", &c.distributed.expert_parallel,
        "ranks that share each MoE layer, experts split between them", 1, 4096);
  s.add("distributed.device", &c.distributed.device, "compute device", {"auto", "cpu", "cuda"});
  bind_slurm(s, c.slurm);
}

void validate_run_config(const RunConfig& c) {
  auto bits_ok = [](int64_t b) { return b == 16 || (b >= 2 && b <= 8); };
  for (auto [key, bits] : {std::pair<const char*, int64_t>{"quant.w_bits", c.quant.w_bits},
                           {"quant.a_bits", c.quant.a_bits},
                           {"quant.q_bits", c.quant.q_bits},
                           {"quant.k_bits", c.quant.k_bits},
                           {"quant.v_bits", c.quant.v_bits}}) {
    FQ_CHECK(bits_ok(bits), "config key '", key, "': bits must be 2..8 or 16 (off), got ", bits);
  }
  FQ_CHECK(c.flatquant.batch_size <= c.data.nsamples, "config key 'flatquant.batch_size': ", c.flatquant.batch_size,
           " is larger than data.nsamples = ", c.data.nsamples);
  FQ_CHECK(!(c.quant.w_mse && c.flatquant.lwc), "config keys 'quant.w_mse' and 'flatquant.lwc' exclude each other ",
           "(the MSE grid would undo the learned clipping)");
  for (int64_t layer : c.flatquant.skip_layers) {
    FQ_CHECK(layer >= 0, "config key 'flatquant.skip_layers': negative layer index ", layer);
  }
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  RunConfig config;
  ConfigSchema schema;
  bind_run_config(schema, config);
  if (!path.empty()) {
    YAML::Node root;
    try {
      root = YAML::Load(read_file(path));
    } catch (const YAML::Exception& e) {
      throw Error(str("'", path, "' is not valid YAML: ", e.what()));
    }
    schema.load_yaml(root, path, std::filesystem::absolute(path).parent_path().string());
  }
  for (const auto& o : overrides) schema.set(o, "--set " + o);
  validate_run_config(config);
  return config;
}

std::string run_config_yaml(const RunConfig& config) {
  RunConfig copy = config;
  ConfigSchema schema;
  bind_run_config(schema, copy);
  return schema.to_yaml();
}

std::string calibration_hash(const RunConfig& config) {
  // Everything that changes the learned parameters; paths, evaluation, distribution, Slurm and
  // micro-batching do not
  // (a run may resume with another number of ranks or on another cluster).
  // The model itself is pinned by its checkpoint fingerprint in the manifest, not by its path.
  RunConfig c = config;
  c.model.clear();
  c.output_dir.clear();
  c.eval = EvalConfig{};
  c.distributed = DistributedConfig{};
  c.slurm = SlurmConfig{};
  // Micro-batching changes only the float summation order of a step's gradient: a run may resume with
  // another micro-batch size (e.g. on a GPU with less memory).
  c.flatquant.micro_batch = 0;
  return Fingerprint().add(run_config_yaml(c)).hex();
}

std::string run_config_help() {
  RunConfig defaults;
  ConfigSchema schema;
  bind_run_config(schema, defaults);
  return schema.describe();
}

}  // namespace fq::pipelines
