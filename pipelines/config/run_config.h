// Every knob of a flatquant run, with the defaults of the reference (ALGORITHM.md) — the paper's W4A4
// settings. YAML files set any subset; `--set key=value` overrides; the effective config is saved
// beside the outputs (config.yaml) and its calibration-relevant part is hashed into the manifest so that a
// run directory is never resumed with different settings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fq::pipelines {

class ConfigSchema;

struct DataConfig {
  std::string calibration;        // text (WikiText style), .jsonl with a "text" field (C4 style), or token ids
  std::string format = "auto";    // auto | text | jsonl | tokens (whitespace/JSON-list separated ids, or .npy int)
  int64_t nsamples = 128;
  int64_t seqlen = 2048;
  int64_t seed = 0;
};

struct QuantConfig {
  int64_t w_bits = 4;
  bool w_asym = false;
  bool w_mse = false;  // MSE-grid weight scales at evaluation (the reference's gptq_mse; not with LWC)
  std::string w_quantizer = "rtn";  // rtn (room for gptq)
  int64_t a_bits = 4;
  bool a_asym = false;
  int64_t q_bits = 16;
  bool q_asym = false;
  int64_t k_bits = 16;
  bool k_asym = true;
  int64_t k_groupsize = 128;
  int64_t v_bits = 16;
  bool v_asym = true;
  int64_t v_groupsize = 128;
};

struct FlatQuantConfig {
  bool learn_transforms = true;  // cali_trans
  bool diag_scale = true;        // add_diag
  std::string diag_init = "sq_style";  // sq_style | one_style
  double diag_alpha = 0.3;
  bool direct_inverse = false;  // direct_inv: free factors, inverse in float64
  bool lwc = true;
  bool lac = true;
  int64_t epochs = 15;
  double lr = 5e-3;  // flat_lr
  int64_t batch_size = 4;
  int64_t micro_batch = 0;  // windows per forward/backward pass, gradients accumulated (0: the whole batch)
  bool warmup = false;
  std::string compute_dtype = "bfloat16";     // training math (the reference's autocast dtype)
  std::string activation_dtype = "bfloat16";  // storage of captured activations
  // Full-precision forward of the capture (the next layer's inputs and the calibration targets); the
  // reference runs LLaMA layers in float32 and DeepSeek layers in bfloat16.
  std::string target_dtype = "float32";
  int64_t seed = 0;
  std::vector<int64_t> skip_layers;  // calibrated with identity transforms
  int64_t skip_last = 0;             // skip the last N layers (the reference's --v3_not_last is 2)
};

struct MoeConfig {
  std::string routed_down_transform = "shared";  // shared | per_expert
  std::string expert_act_quantizers = "shared";  // shared | per_expert
};

struct EvalConfig {
  std::string text;       // perplexity corpus; empty: none
  int64_t seqlen = 2048;  // perplexity window
  int64_t batch_size = 4;
};

struct DistributedConfig {
  int64_t expert_parallel = 1;  // ranks sharing each MoE layer (experts split between them)
  std::string device = "auto";  // auto | cpu | cuda
};

struct SlurmConfig {
  std::string job_name = "flatquant";
  int64_t nodes = 1;
  int64_t ntasks_per_node = 8;
  int64_t gpus_per_node = 8;
  int64_t cpus_per_task = 16;
  std::string memory;  // --mem: "0" (all of a node's memory), "500G"; empty: the cluster default
  std::string time = "24:00:00";
  std::string partition;
  std::string account;
  bool exclusive = false;
  bool requeue = true;
  std::string signal = "B:USR1@300";
  std::string launcher = "srun";  // srun | mpirun
  std::string output = "%x-%j.out";  // relative: in the run directory
  std::string setup;  // shell lines run before the launch (module load ..., source env.sh)
};

struct RunConfig {
  std::string model;       // Hugging Face checkpoint directory
  std::string output_dir;  // run directory (also --out)
  DataConfig data;
  QuantConfig quant;
  FlatQuantConfig flatquant;
  MoeConfig moe;
  EvalConfig eval;
  DistributedConfig distributed;
  SlurmConfig slurm;

  // The layers calibrated with learned transforms (all layers minus skip_layers and the last skip_last).
  bool layer_skipped(int64_t layer, int64_t num_layers) const;
};

void bind_run_config(ConfigSchema& schema, RunConfig& config);

// Loads `path` (may be empty: defaults only), applies `overrides` ("key=value"), validates cross-field
// constraints, and returns the config. Errors name the file or the override and the key.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides);
// Throws fq::Error naming the key for impossible combinations (bits, batch > nsamples, ...).
void validate_run_config(const RunConfig& config);

// The effective config as YAML (every key), and a fingerprint of the keys that change calibration results.
std::string run_config_yaml(const RunConfig& config);
std::string calibration_hash(const RunConfig& config);
// `flatquant <cmd> --help` text: every key with its default and help.
std::string run_config_help();

}  // namespace fq::pipelines
