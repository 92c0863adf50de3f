#include "lib/io/model_config.h"

#include <cmath>

#include <gtest/gtest.h>

#include "lib/core/json.h"
#include "tests/support/expect_error.h"
#include "tests/support/shared_dir.h"

namespace fq::io {
namespace {

// Llama-3.1-70B as its config.json states it (REFERENCE.md section 2), in the classic rope form.
const char* kLlama31_70B = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8192,
  "intermediate_size": 28672, "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8,
  "vocab_size": 128256, "max_position_embeddings": 131072, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "tie_word_embeddings": false,
  "hidden_act": "silu", "attention_bias": false, "mlp_bias": false, "torch_dtype": "bfloat16"})";

// DeepSeek V3 / R1 as released (REFERENCE.md section 2).
const char* kDeepseekV3 = R"({
  "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
  "num_hidden_layers": 61, "first_k_dense_replace": 3, "num_attention_heads": 128, "num_key_value_heads": 128,
  "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
  "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4,
  "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": true, "routed_scaling_factor": 2.5,
  "vocab_size": 129280, "rms_norm_eps": 1e-06, "rope_theta": 10000, "max_position_embeddings": 163840,
  "rope_scaling": {"type": "yarn", "factor": 40, "original_max_position_embeddings": 4096, "beta_fast": 32,
                   "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 1.0},
  "moe_layer_freq": 1, "num_nextn_predict_layers": 1, "bos_token_id": 0, "eos_token_id": 1,
  "quantization_config": {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic",
                          "weight_block_size": [128, 128]}})";

Json parsed(const char* text) { return Json::parse(text); }
ModelConfig parse_json(const Json& j) { return parse_model_config_text(j.dump(), "test.json"); }

TEST(ModelConfig, Llama31_70BClassicRope) {
  ModelConfig c = parse_model_config_text(kLlama31_70B, "llama31.json");
  EXPECT_EQ(c.family, ModelFamily::kLlama);
  EXPECT_EQ(c.hidden_size, 8192);
  EXPECT_EQ(c.intermediate_size, 28672);
  EXPECT_EQ(c.num_hidden_layers, 80);
  EXPECT_EQ(c.num_attention_heads, 64);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 128);  // default hidden / heads
  EXPECT_EQ(c.vocab_size, 128256);
  EXPECT_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.rope.type, RopeType::kLlama3);
  EXPECT_EQ(c.rope.theta, 500000.0);
  EXPECT_EQ(c.rope.factor, 8.0);
  EXPECT_EQ(c.rope.low_freq_factor, 1.0);
  EXPECT_EQ(c.rope.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);
  EXPECT_FALSE(c.rope_interleave);
  EXPECT_EQ(c.fp8_block_rows, 0);
  EXPECT_FALSE(c.is_moe_layer(5));
}

TEST(ModelConfig, DeepseekV3Release) {
  ModelConfig c = parse_model_config_text(kDeepseekV3, "v3.json");
  EXPECT_EQ(c.family, ModelFamily::kDeepseekV3);
  EXPECT_EQ(c.q_lora_rank, 1536);
  EXPECT_EQ(c.kv_lora_rank, 512);
  EXPECT_EQ(c.qk_head_dim(), 192);
  EXPECT_EQ(c.v_head_dim, 128);
  EXPECT_EQ(c.head_dim, 64);  // transformers sets head_dim = qk_rope_head_dim
  EXPECT_EQ(c.n_routed_experts, 256);
  EXPECT_EQ(c.num_experts_per_tok, 8);
  EXPECT_EQ(c.n_group, 8);
  EXPECT_EQ(c.topk_group, 4);
  EXPECT_EQ(c.routed_scaling_factor, 2.5);
  EXPECT_TRUE(c.rope_interleave) << "defaults to true when absent";
  EXPECT_EQ(c.rope.type, RopeType::kYarn);
  EXPECT_EQ(c.rope.factor, 40.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 4096);
  EXPECT_EQ(c.rope.mscale_all_dim, 1.0);
  EXPECT_DOUBLE_EQ(c.rope.attention_factor, 1.0) << "mscale == mscale_all_dim";
  EXPECT_EQ(c.fp8_block_rows, 128);
  EXPECT_EQ(c.fp8_block_cols, 128);
  EXPECT_FALSE(c.is_moe_layer(2));
  EXPECT_TRUE(c.is_moe_layer(3));
  EXPECT_TRUE(c.is_moe_layer(60));
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{1}));
}

TEST(ModelConfig, TransformersFiveRopeParametersGiveTheSameConfig) {
  Json classic = parsed(kLlama31_70B);
  Json v5 = classic;
  v5.erase("rope_theta");
  v5.erase("rope_scaling");
  v5["rope_parameters"] = classic["rope_scaling"];
  v5["rope_parameters"]["rope_theta"] = 500000.0;
  ModelConfig a = parse_json(classic);
  ModelConfig b = parse_json(v5);
  EXPECT_EQ(b.rope.type, RopeType::kLlama3);
  EXPECT_EQ(a.rope.theta, b.rope.theta);
  EXPECT_EQ(a.rope.factor, b.rope.factor);
  EXPECT_EQ(a.rope.original_max_position_embeddings, b.rope.original_max_position_embeddings);

  Json ds = parsed(kDeepseekV3);
  Json ds5 = ds;
  ds5.erase("rope_theta");
  ds5.erase("rope_scaling");
  ds5["rope_parameters"] = ds["rope_scaling"];
  ds5["rope_parameters"].erase("type");
  ds5["rope_parameters"]["rope_type"] = "yarn";
  ds5["rope_parameters"]["rope_theta"] = 10000;
  ModelConfig c = parse_json(ds5);
  EXPECT_EQ(c.rope.type, RopeType::kYarn);
  EXPECT_EQ(c.rope.theta, 10000.0);
  EXPECT_EQ(c.rope.factor, 40.0);
  EXPECT_EQ(c.rope.beta_fast, 32.0);

  Json plain = classic;
  plain.erase("rope_scaling");
  plain["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 10000.0}};
  EXPECT_EQ(parse_json(plain).rope.type, RopeType::kDefault);
  EXPECT_EQ(parse_json(plain).rope.theta, 10000.0);
}

TEST(ModelConfig, RopeVariantsAndDefaults) {
  Json j = parsed(kLlama31_70B);
  j["rope_scaling"] = nullptr;
  EXPECT_EQ(parse_json(j).rope.type, RopeType::kDefault);
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  EXPECT_EQ(parse_json(j).rope.type, RopeType::kLinear);
  EXPECT_EQ(parse_json(j).rope.factor, 2.0);
  j.erase("rope_scaling");
  j.erase("rope_theta");
  EXPECT_EQ(parse_json(j).rope.theta, 10000.0);

  // YaRN without mscale/mscale_all_dim: transformers uses get_mscale(factor) = 0.1 ln(factor) + 1.
  Json ds = parsed(kDeepseekV3);
  ds["rope_scaling"].erase("mscale");
  ds["rope_scaling"].erase("mscale_all_dim");
  ds["rope_scaling"].erase("original_max_position_embeddings");
  ModelConfig c = parse_json(ds);
  EXPECT_DOUBLE_EQ(c.rope.attention_factor, 0.1 * std::log(40.0) + 1.0);
  EXPECT_EQ(c.rope.mscale_all_dim, 0.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 163840) << "defaults to max_position_embeddings";
  ds["rope_scaling"]["attention_factor"] = 0.5;
  EXPECT_EQ(parse_json(ds).rope.attention_factor, 0.5);
}

TEST(ModelConfig, HuggingFaceDefaults) {
  Json j = {{"model_type", "llama"},  {"hidden_size", 256},       {"intermediate_size", 512},
            {"num_hidden_layers", 2}, {"num_attention_heads", 8}, {"vocab_size", 100}};
  ModelConfig c = parse_json(j);
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{2}));
  EXPECT_FALSE(c.tie_word_embeddings);

  Json ds = parsed(kDeepseekV3);
  ds["q_lora_rank"] = nullptr;
  for (const char* k : {"n_group", "topk_group", "first_k_dense_replace", "routed_scaling_factor", "norm_topk_prob"}) {
    ds.erase(k);
  }
  ModelConfig d = parse_json(ds);
  EXPECT_EQ(d.q_lora_rank, 0) << "null q_lora_rank means a plain q_proj";
  EXPECT_EQ(d.n_group, 8);
  EXPECT_EQ(d.topk_group, 4);
  EXPECT_EQ(d.first_k_dense_replace, 3);
  EXPECT_TRUE(d.norm_topk_prob);
}

// The shared tiny models: every field checked against the config.json it came from.
class SharedModelConfig : public ::testing::TestWithParam<const char*> {};

TEST_P(SharedModelConfig, FieldsMatchTheFile) {
  FQ_REQUIRE_SHARED();
  const std::string path = test::shared_path(std::string("models/") + GetParam() + "/config.json");
  const Json j = read_json_file(path);
  const ModelConfig c = parse_model_config(path);
  EXPECT_EQ(c.model_type, j["model_type"].get<std::string>());
  EXPECT_EQ(c.hidden_size, j["hidden_size"].get<int64_t>());
  EXPECT_EQ(c.intermediate_size, j["intermediate_size"].get<int64_t>());
  EXPECT_EQ(c.num_hidden_layers, j["num_hidden_layers"].get<int64_t>());
  EXPECT_EQ(c.num_attention_heads, j["num_attention_heads"].get<int64_t>());
  EXPECT_EQ(c.num_key_value_heads, j["num_key_value_heads"].get<int64_t>());
  EXPECT_EQ(c.vocab_size, j["vocab_size"].get<int64_t>());
  EXPECT_EQ(c.max_position_embeddings, j["max_position_embeddings"].get<int64_t>());
  EXPECT_EQ(c.rms_norm_eps, j["rms_norm_eps"].get<double>());
  EXPECT_EQ(c.tie_word_embeddings, j["tie_word_embeddings"].get<bool>());
  EXPECT_EQ(c.bos_token_id, j["bos_token_id"].get<int64_t>());
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{j["eos_token_id"].get<int64_t>()}));
  EXPECT_EQ(c.rope.theta, j["rope_theta"].get<double>());
  const Json& rs = j["rope_scaling"];
  EXPECT_EQ(c.rope.factor, rs["factor"].get<double>());
  EXPECT_EQ(c.rope.original_max_position_embeddings, rs["original_max_position_embeddings"].get<int64_t>());
  if (c.family == ModelFamily::kLlama) {
    EXPECT_EQ(c.rope.type, RopeType::kLlama3);
    EXPECT_EQ(c.head_dim, j["head_dim"].get<int64_t>());
    EXPECT_EQ(c.rope.low_freq_factor, rs["low_freq_factor"].get<double>());
    EXPECT_EQ(c.rope.high_freq_factor, rs["high_freq_factor"].get<double>());
    EXPECT_EQ(c.fp8_block_rows, 0);
    return;
  }
  EXPECT_EQ(c.rope.type, RopeType::kYarn);
  EXPECT_EQ(c.rope.beta_fast, rs["beta_fast"].get<double>());
  EXPECT_EQ(c.rope.beta_slow, rs["beta_slow"].get<double>());
  EXPECT_EQ(c.rope.mscale, rs["mscale"].get<double>());
  EXPECT_EQ(c.rope.mscale_all_dim, rs["mscale_all_dim"].get<double>());
  EXPECT_DOUBLE_EQ(c.rope.attention_factor, 1.0);
  EXPECT_EQ(c.q_lora_rank, j["q_lora_rank"].get<int64_t>());
  EXPECT_EQ(c.kv_lora_rank, j["kv_lora_rank"].get<int64_t>());
  EXPECT_EQ(c.qk_nope_head_dim, j["qk_nope_head_dim"].get<int64_t>());
  EXPECT_EQ(c.qk_rope_head_dim, j["qk_rope_head_dim"].get<int64_t>());
  EXPECT_EQ(c.v_head_dim, j["v_head_dim"].get<int64_t>());
  EXPECT_EQ(c.moe_intermediate_size, j["moe_intermediate_size"].get<int64_t>());
  EXPECT_EQ(c.n_routed_experts, j["n_routed_experts"].get<int64_t>());
  EXPECT_EQ(c.n_shared_experts, j["n_shared_experts"].get<int64_t>());
  EXPECT_EQ(c.num_experts_per_tok, j["num_experts_per_tok"].get<int64_t>());
  EXPECT_EQ(c.n_group, j["n_group"].get<int64_t>());
  EXPECT_EQ(c.topk_group, j["topk_group"].get<int64_t>());
  EXPECT_EQ(c.first_k_dense_replace, j["first_k_dense_replace"].get<int64_t>());
  EXPECT_EQ(c.moe_layer_freq, j["moe_layer_freq"].get<int64_t>());
  EXPECT_EQ(c.routed_scaling_factor, j["routed_scaling_factor"].get<double>());
  EXPECT_EQ(c.norm_topk_prob, j["norm_topk_prob"].get<bool>());
  EXPECT_TRUE(c.rope_interleave);
  EXPECT_FALSE(c.is_moe_layer(0));
  EXPECT_TRUE(c.is_moe_layer(1));
  const bool fp8 = j.contains("quantization_config");
  EXPECT_EQ(c.fp8_block_rows, fp8 ? 128 : 0);
  EXPECT_EQ(c.fp8_block_cols, fp8 ? 128 : 0);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, SharedModelConfig,
                         ::testing::Values("tiny-llama3", "tiny-deepseek-v3", "tiny-deepseek-v3-fp8"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& ch : name) ch = (ch == '-') ? '_' : ch;
                           return name;
                         });

// Each error names the file and the field.
TEST(ModelConfigErrors, NameTheFileAndTheField) {
  auto expect = [](Json j, std::initializer_list<std::string> parts) {
    test::expect_error([&] { parse_model_config_text(j.dump(), "bad/config.json"); }, parts);
  };
  Json llama = parsed(kLlama31_70B);
  Json ds = parsed(kDeepseekV3);
  auto with = [](Json j, const std::string& key, Json value) {
    j[key] = std::move(value);
    return j;
  };
  auto without = [](Json j, const std::string& key) {
    j.erase(key);
    return j;
  };
  expect(with(llama, "model_type", "mistral"), {"bad/config.json", "model_type", "mistral"});
  expect(without(llama, "model_type"), {"bad/config.json", "model_type", "missing"});
  expect(without(llama, "hidden_size"), {"bad/config.json", "hidden_size", "missing"});
  expect(with(llama, "hidden_size", "8192"), {"bad/config.json", "hidden_size", "integer"});
  expect(with(llama, "num_hidden_layers", true), {"bad/config.json", "num_hidden_layers", "integer"});
  expect(with(llama, "tie_word_embeddings", 1), {"bad/config.json", "tie_word_embeddings", "true or false"});
  expect(with(llama, "vocab_size", 0), {"bad/config.json", "vocab_size", "positive"});
  expect(with(llama, "num_attention_heads", 60), {"bad/config.json", "hidden_size", "divisible"});
  expect(with(llama, "num_key_value_heads", 7), {"bad/config.json", "num_key_value_heads", "divide"});
  expect(with(llama, "eos_token_id", "x"), {"bad/config.json", "eos_token_id"});
  expect(with(llama, "hidden_act", "gelu"), {"bad/config.json", "hidden_act", "gelu"});
  expect(with(llama, "rope_scaling", Json{{"rope_type", "dynamic"}, {"factor", 2.0}}),
         {"bad/config.json", "rope_scaling.rope_type", "dynamic"});
  expect(with(llama, "rope_scaling", Json{{"rope_type", "llama3"}, {"factor", 8.0}}),
         {"bad/config.json", "rope_scaling.low_freq_factor", "missing"});
  expect(with(llama, "rope_scaling", Json{{"type", "linear"}}), {"bad/config.json", "rope_scaling.factor"});
  expect(with(llama, "rope_scaling", "yarn"), {"bad/config.json", "rope_scaling", "object"});
  expect(with(llama, "quantization_config", Json{{"quant_method", "gptq"}}),
         {"bad/config.json", "quantization_config.quant_method", "gptq"});
  expect(with(ds, "quantization_config", Json{{"quant_method", "fp8"}}),
         {"bad/config.json", "quantization_config.weight_block_size", "missing"});
  expect(with(ds, "quantization_config", Json{{"quant_method", "fp8"}, {"weight_block_size", {128}}}),
         {"bad/config.json", "quantization_config.weight_block_size"});
  expect(without(ds, "kv_lora_rank"), {"bad/config.json", "kv_lora_rank", "missing"});
  expect(without(ds, "q_lora_rank"), {"bad/config.json", "q_lora_rank", "missing"});
  expect(with(ds, "n_group", 7), {"bad/config.json", "n_group", "divide"});
  expect(with(ds, "topk_group", 9), {"bad/config.json", "topk_group"});
  expect(with(ds, "num_experts_per_tok", 200), {"bad/config.json", "num_experts_per_tok"});
  expect(with(ds, "qk_rope_head_dim", 63), {"bad/config.json", "qk_rope_head_dim", "even"});
  expect(with(ds, "scoring_func", "softmax"), {"bad/config.json", "scoring_func", "softmax"});
  test::expect_error([] { parse_model_config_text("{\"model_type\": ", "bad/config.json"); },
                     {"bad/config.json", "JSON"});
  test::expect_error([] { parse_model_config("/nonexistent/config.json"); }, {"/nonexistent/config.json"});
}

}  // namespace
}  // namespace fq::io
