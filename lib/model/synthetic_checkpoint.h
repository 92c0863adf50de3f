// Synthetic Hugging Face checkpoints (`flatquant make-model`): real config.json, sharded safetensors with
// model.safetensors.index.json, tokenizer and generation files, and random weights with planted outlier
// channels (synthetic_weights.h), written tensor by tensor so that a 22 GB DeepSeek V3 layer never has to
// fit in memory.
#pragma once

#include <cstdint>
#include <string>

#include "lib/core/json.h"
#include "lib/io/model_config.h"

namespace fq::model {

enum class SyntheticPreset { kTiny, kLlama3_8B, kLlama3_70B, kDeepseekV3 };

// "tiny", "llama-3-8b", "llama-3-70b", "deepseek-v3"; throws naming the choices otherwise.
SyntheticPreset parse_synthetic_preset(const std::string& name);

// The config.json of a preset in the classic rope form (`rope_theta` + `rope_scaling`), as the released
// checkpoints write it. `tiny_family` picks the tiny model's architecture (shapes of ../shared's tiny
// models: hidden 256, 4 layers, vocab 4096); the other presets have theirs (REFERENCE.md section 2).
// `layers` > 0 keeps only the first `layers` decoder layers (num_hidden_layers = layers).
Json synthetic_config(SyntheticPreset preset, io::ModelFamily tiny_family, int64_t layers = 0);

struct SyntheticCheckpointOptions {
  Json config;  // config.json as written (quantization_config is added when fp8)
  std::uint64_t seed = 0;
  bool fp8 = false;      // linears of the layers as F8_E4M3 + float32 weight_scale_inv per 128x128 block
  bool outliers = true;  // plant function-preserving outlier channels
  std::uint64_t shard_bytes = 4096ull << 20;
  std::string tokenizer_json;  // tokenizer.json text
  std::string bos_token = "<|begin_of_text|>";
  std::string eos_token = "<|end_of_text|>";
};

struct SyntheticCheckpointSummary {
  int64_t tensors = 0;
  int64_t shards = 0;
  std::uint64_t data_bytes = 0;  // the index's total_size
  double seconds = 0.0;
};

// Writes the checkpoint into `dir`, which must be absent or empty. Every file is written atomically and
// model.safetensors.index.json comes last, so an interrupted run leaves a directory Checkpoint refuses
// rather than one with missing tensors. Logs progress (tensor i/N, layer, GB written, ETA).
SyntheticCheckpointSummary write_synthetic_checkpoint(const std::string& dir,
                                                      const SyntheticCheckpointOptions& options);

}  // namespace fq::model
