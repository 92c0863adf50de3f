#include "lib/model/synthetic_checkpoint.h"

#include <cstdio>
#include <filesystem>

#include <ATen/ATen.h>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/core/stopwatch.h"
#include "lib/io/safetensors.h"
#include "lib/model/synthetic_weights.h"

namespace fq::model {
namespace {

// Tensors are generated in row blocks of about this many elements (64 MB of float32 at a time).
constexpr int64_t kChunkElements = 16 << 20;
constexpr double kProgressEverySeconds = 10.0;

// Fields both families write the same way (token ids are replaced by the tokenizer's).
Json common_config() {
  return {{"hidden_act", "silu"},      {"attention_bias", false}, {"attention_dropout", 0.0},
          {"initializer_range", 0.02}, {"pretraining_tp", 1},     {"tie_word_embeddings", false},
          {"use_cache", true},         {"bos_token_id", 0},       {"eos_token_id", 1},
          {"torch_dtype", "bfloat16"}};
}

Json llama_config(int64_t hidden, int64_t inter, int64_t layers, int64_t heads, int64_t kv_heads, int64_t vocab,
                  int64_t max_positions, double rope_theta, Json rope_scaling) {
  Json c = common_config();
  c.update({{"architectures", {"LlamaForCausalLM"}},
            {"model_type", "llama"},
            {"hidden_size", hidden},
            {"intermediate_size", inter},
            {"num_hidden_layers", layers},
            {"num_attention_heads", heads},
            {"num_key_value_heads", kv_heads},
            {"head_dim", hidden / heads},
            {"vocab_size", vocab},
            {"max_position_embeddings", max_positions},
            {"rms_norm_eps", 1e-5},
            {"rope_theta", rope_theta},
            {"rope_scaling", std::move(rope_scaling)},
            {"mlp_bias", false}});
  return c;
}

struct DeepseekShape {
  int64_t hidden, inter, moe_inter, layers, first_dense, heads, q_lora, kv_lora, nope, rope, v, experts, top_k, groups,
      topk_groups, vocab, max_positions;
  double yarn_factor;
  int64_t yarn_original;
};

Json deepseek_config(const DeepseekShape& s) {
  Json c = common_config();
  c.update({{"architectures", {"DeepseekV3ForCausalLM"}},
            {"model_type", "deepseek_v3"},
            {"hidden_size", s.hidden},
            {"intermediate_size", s.inter},
            {"moe_intermediate_size", s.moe_inter},
            {"num_hidden_layers", s.layers},
            {"first_k_dense_replace", s.first_dense},
            {"num_attention_heads", s.heads},
            {"num_key_value_heads", s.heads},
            {"q_lora_rank", s.q_lora},
            {"kv_lora_rank", s.kv_lora},
            {"qk_nope_head_dim", s.nope},
            {"qk_rope_head_dim", s.rope},
            {"v_head_dim", s.v},
            {"n_routed_experts", s.experts},
            {"n_shared_experts", 1},
            {"num_experts_per_tok", s.top_k},
            {"n_group", s.groups},
            {"topk_group", s.topk_groups},
            {"topk_method", "noaux_tc"},
            {"scoring_func", "sigmoid"},
            {"norm_topk_prob", true},
            {"routed_scaling_factor", 2.5},
            {"moe_layer_freq", 1},
            {"num_nextn_predict_layers", 0},  // no multi-token-prediction layer is written
            {"vocab_size", s.vocab},
            {"max_position_embeddings", s.max_positions},
            {"rms_norm_eps", 1e-6},
            {"rope_theta", 10000.0},
            {"rope_scaling",
             {{"type", "yarn"},
              {"factor", s.yarn_factor},
              {"original_max_position_embeddings", s.yarn_original},
              {"beta_fast", 32},
              {"beta_slow", 1},
              {"mscale", 1.0},
              {"mscale_all_dim", 1.0}}}});
  return c;
}

std::string shard_name(int64_t index, int64_t count) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "model-%05lld-of-%05lld.safetensors", static_cast<long long>(index + 1),
                static_cast<long long>(count));
  return buf;
}

// Consecutive recipes per shard: a shard closes when the next tensor would take it past `shard_bytes`
// (a tensor larger than that gets a shard of its own).
std::vector<std::vector<const WeightRecipe*>> plan_shards(const std::vector<WeightRecipe>& recipes,
                                                          std::uint64_t shard_bytes) {
  std::vector<std::vector<const WeightRecipe*>> shards(1);
  std::uint64_t bytes = 0;
  for (const WeightRecipe& r : recipes) {
    if (!shards.back().empty() && bytes + r.stored_bytes() > shard_bytes) {
      shards.emplace_back();
      bytes = 0;
    }
    shards.back().push_back(&r);
    bytes += r.stored_bytes();
  }
  return shards;
}

int64_t chunk_rows(const WeightRecipe& r) {
  int64_t rows = std::max<int64_t>(1, kChunkElements / r.cols());
  if (r.dtype == io::StDtype::kF8E4M3) {
    rows = (rows + kSyntheticFp8Block - 1) / kSyntheticFp8Block * kSyntheticFp8Block;  // whole scale blocks
  }
  return rows;
}

// Logs a line per finished decoder layer and at least every kProgressEverySeconds.
class Progress {
 public:
  Progress(int64_t tensors, int64_t layers, std::uint64_t bytes) : tensors_(tensors), layers_(layers), bytes_(bytes) {}

  // `next` is the tensor written after `done` (nullptr at the end).
  void tensor_done(const WeightRecipe& done, const WeightRecipe* next, std::uint64_t bytes_written) {
    ++done_;
    const bool layer_finished = done.layer >= 0 && (next == nullptr || next->layer != done.layer);
    if (!layer_finished && next != nullptr && clock_.seconds() - last_ < kProgressEverySeconds) return;
    last_ = clock_.seconds();
    log::info("make-model", layer_finished ? "layer written" : "writing",
              {{"tensor", str(done_, "/", tensors_)},
               {"layer", done.layer >= 0 ? str(done.layer + 1, "/", layers_) : std::string("-")},
               {"written_gb", static_cast<double>(bytes_written) / 1e9},
               {"total_gb", static_cast<double>(bytes_) / 1e9},
               {"eta", log::format_duration(std::max(0.0, clock_.eta_seconds(static_cast<double>(bytes_written),
                                                                             static_cast<double>(bytes_))))}});
  }
  double seconds() const { return clock_.seconds(); }

 private:
  int64_t tensors_;
  int64_t layers_;
  std::uint64_t bytes_;
  int64_t done_ = 0;
  double last_ = 0.0;
  Stopwatch clock_;
};

void write_sidecar_files(const std::string& dir, const SyntheticCheckpointOptions& o, const io::ModelConfig& cfg,
                         const Json& config) {
  write_json_file_atomic(dir + "/config.json", config);
  Json generation = {{"_from_model_config", true}, {"bos_token_id", cfg.bos_token_id}};
  generation["eos_token_id"] = cfg.eos_token_ids.size() == 1 ? Json(cfg.eos_token_ids[0]) : Json(cfg.eos_token_ids);
  write_json_file_atomic(dir + "/generation_config.json", generation);
  write_file_atomic(dir + "/tokenizer.json", o.tokenizer_json);
  write_json_file_atomic(dir + "/tokenizer_config.json", {{"tokenizer_class", "PreTrainedTokenizerFast"},
                                                          {"bos_token", o.bos_token},
                                                          {"eos_token", o.eos_token},
                                                          {"add_bos_token", true},
                                                          {"model_max_length", cfg.max_position_embeddings}});
}

}  // namespace

SyntheticPreset parse_synthetic_preset(const std::string& name) {
  if (name == "tiny") return SyntheticPreset::kTiny;
  if (name == "llama-3-8b") return SyntheticPreset::kLlama3_8B;
  if (name == "llama-3-70b") return SyntheticPreset::kLlama3_70B;
  if (name == "deepseek-v3") return SyntheticPreset::kDeepseekV3;
  throw Error(str("unknown model preset '", name, "' (expected tiny, llama-3-8b, llama-3-70b or deepseek-v3)"));
}

Json synthetic_config(SyntheticPreset preset, io::ModelFamily tiny_family, int64_t layers) {
  Json c;
  switch (preset) {
    case SyntheticPreset::kTiny:
      if (tiny_family == io::ModelFamily::kLlama) {
        c = llama_config(256, 768, 4, 8, 2, 4096, 1024, 500000.0,
                         {{"rope_type", "llama3"},
                          {"factor", 8.0},
                          {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0},
                          {"original_max_position_embeddings", 256}});
      } else {
        c = deepseek_config({256, 768, 128, 4, 1, 8, 128, 64, 32, 16, 32, 16, 4, 4, 2, 4096, 1024, 4.0, 256});
      }
      break;
    case SyntheticPreset::kLlama3_8B:
      c = llama_config(4096, 14336, 32, 32, 8, 128256, 8192, 500000.0, nullptr);
      break;
    case SyntheticPreset::kLlama3_70B:
      c = llama_config(8192, 28672, 80, 64, 8, 128256, 8192, 500000.0, nullptr);
      break;
    case SyntheticPreset::kDeepseekV3:
      c = deepseek_config(
          {7168, 18432, 2048, 61, 3, 128, 1536, 512, 128, 64, 128, 256, 8, 8, 4, 129280, 163840, 40.0, 4096});
      break;
  }
  if (layers > 0) c["num_hidden_layers"] = layers;
  return c;
}

SyntheticCheckpointSummary write_synthetic_checkpoint(const std::string& dir, const SyntheticCheckpointOptions& o) {
  std::error_code ec;
  FQ_CHECK(!std::filesystem::exists(dir) || std::filesystem::is_empty(dir, ec), "output directory '", dir,
           "' is not empty; make-model writes only into a new or empty directory");
  std::filesystem::create_directories(dir, ec);
  FQ_CHECK(!ec, "cannot create output directory '", dir, "': ", ec.message());

  Json config = o.config;
  if (o.fp8) {
    config["quantization_config"] = {{"quant_method", "fp8"},
                                     {"fmt", "e4m3"},
                                     {"activation_scheme", "dynamic"},
                                     {"weight_block_size", {kSyntheticFp8Block, kSyntheticFp8Block}}};
  }
  const io::ModelConfig cfg = io::parse_model_config_text(config.dump(), dir + "/config.json");
  const std::vector<WeightRecipe> recipes = synthetic_weight_recipes(cfg, o.seed, o.fp8, o.outliers);
  const auto shards = plan_shards(recipes, o.shard_bytes);
  std::uint64_t total = 0;
  for (const WeightRecipe& r : recipes) total += r.stored_bytes();
  log::info("make-model", "planned",
            {{"dir", dir},
             {"tensors", static_cast<long long>(recipes.size())},
             {"layers", static_cast<long long>(cfg.num_hidden_layers)},
             {"shards", static_cast<long long>(shards.size())},
             {"gb", static_cast<double>(total) / 1e9}});
  write_sidecar_files(dir, o, cfg, config);

  Progress progress(static_cast<int64_t>(recipes.size()), cfg.num_hidden_layers, total);
  Json weight_map = Json::object();
  std::uint64_t written = 0;
  for (std::size_t s = 0; s < shards.size(); ++s) {
    const std::string name = shard_name(static_cast<int64_t>(s), static_cast<int64_t>(shards.size()));
    std::vector<io::TensorSpec> specs;
    for (const WeightRecipe* r : shards[s]) {
      specs.push_back({r->name, r->dtype, r->shape});
      weight_map[r->name] = name;
      if (r->dtype == io::StDtype::kF8E4M3) {
        const std::string scale = r->name + "_scale_inv";
        specs.push_back({scale,
                         io::StDtype::kF32,
                         {(r->rows() + kSyntheticFp8Block - 1) / kSyntheticFp8Block,
                          (r->cols() + kSyntheticFp8Block - 1) / kSyntheticFp8Block}});
        weight_map[scale] = name;
      }
    }
    io::SafetensorsWriter writer(dir + "/" + name, std::move(specs));
    for (const WeightRecipe* r : shards[s]) {
      std::vector<at::Tensor> scale_rows;
      const int64_t step = chunk_rows(*r);
      for (int64_t row = 0; row < r->rows(); row += step) {
        StoredRows part = synthesize_stored_rows(*r, o.seed, row, std::min(r->rows(), row + step));
        writer.append(r->name, part.data);
        if (part.scale_inv.defined()) scale_rows.push_back(part.scale_inv);
      }
      if (!scale_rows.empty()) writer.append(r->name + "_scale_inv", at::cat(scale_rows, 0));
      written += r->stored_bytes();
      const WeightRecipe* next = r + 1 < recipes.data() + recipes.size() ? r + 1 : nullptr;
      progress.tensor_done(*r, next, written);
    }
    writer.finish();
  }
  write_json_file_atomic(dir + "/model.safetensors.index.json",
                         {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}});
  SyntheticCheckpointSummary summary;
  summary.tensors = static_cast<int64_t>(weight_map.size());
  summary.shards = static_cast<int64_t>(shards.size());
  summary.data_bytes = total;
  summary.seconds = progress.seconds();
  log::info("make-model", "done",
            {{"dir", dir},
             {"tensors", static_cast<long long>(summary.tensors)},
             {"shards", static_cast<long long>(summary.shards)},
             {"gb", static_cast<double>(total) / 1e9},
             {"seconds", summary.seconds}});
  return summary;
}

}  // namespace fq::model
