// config.json -> ModelConfig for `llama` and `deepseek_v3`. Types are checked strictly (a boolean where a
// size belongs is an error, not 1), defaults follow transformers' config classes, and values that would
// make the forward pass ill-formed (hidden not divisible by heads, experts not divisible into groups) are
// rejected here, naming the file and the field.
#include "lib/io/model_config.h"

#include <cmath>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/json.h"

namespace fq::io {
namespace {

// Strict typed reads of one JSON object; `prefix` qualifies nested fields ("rope_scaling.factor").
class Fields {
 public:
  Fields(const Json& obj, const std::string& where, std::string prefix = "")
      : obj_(obj), where_(where), prefix_(std::move(prefix)) {}

  bool present(const std::string& key) const { return obj_.find(key) != obj_.end(); }  // null included
  bool has(const std::string& key) const { return present(key) && !obj_.at(key).is_null(); }
  const Json& at(const std::string& key) const {
    FQ_CHECK(has(key), where_, ": missing required field '", name(key), "'");
    return obj_.at(key);
  }
  std::string name(const std::string& key) const { return prefix_ + key; }

  int64_t integer(const std::string& key) const {
    const Json& v = at(key);
    FQ_CHECK(v.is_number_integer(), where_, ": field '", name(key), "' must be an integer, got ", v.dump());
    return v.get<int64_t>();
  }
  int64_t integer_or(const std::string& key, int64_t fallback) const { return has(key) ? integer(key) : fallback; }
  int64_t positive(const std::string& key) const { return check_positive(key, integer(key)); }
  int64_t positive_or(const std::string& key, int64_t fallback) const {
    return check_positive(key, integer_or(key, fallback));
  }

  double number(const std::string& key) const {
    const Json& v = at(key);
    FQ_CHECK(v.is_number(), where_, ": field '", name(key), "' must be a number, got ", v.dump());
    return v.get<double>();
  }
  double number_or(const std::string& key, double fallback) const { return has(key) ? number(key) : fallback; }

  bool boolean_or(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    const Json& v = at(key);
    FQ_CHECK(v.is_boolean(), where_, ": field '", name(key), "' must be true or false, got ", v.dump());
    return v.get<bool>();
  }

  std::string string(const std::string& key) const {
    const Json& v = at(key);
    FQ_CHECK(v.is_string(), where_, ": field '", name(key), "' must be a string, got ", v.dump());
    return v.get<std::string>();
  }
  std::string string_or(const std::string& key, const std::string& fallback) const {
    return has(key) ? string(key) : fallback;
  }

  Fields object(const std::string& key) const {
    const Json& v = at(key);
    FQ_CHECK(v.is_object(), where_, ": field '", name(key), "' must be an object, got ", v.dump());
    return Fields(v, where_, name(key) + ".");
  }

  // A consistency requirement on `key`: `cond` or an error naming the field and why.
  template <typename... Args>
  void require(bool cond, const std::string& key, const Args&... why) const {
    FQ_CHECK(cond, where_, ": field '", name(key), "' ", why...);
  }

 private:
  int64_t check_positive(const std::string& key, int64_t value) const {
    require(value > 0, key, "must be positive, got ", value);
    return value;
  }

  const Json& obj_;
  const std::string& where_;
  std::string prefix_;
};

// transformers' get_mscale: the YaRN attention temperature for a context extension by `scale`.
double yarn_get_mscale(double scale, double mscale) {
  return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

// One rope dict: the classic `rope_scaling` (with `rope_theta` beside it) or transformers 5's
// `rope_parameters` (holding `rope_theta` itself).
RopeConfig parse_rope(const Fields& rope, double theta, int64_t max_position_embeddings) {
  RopeConfig r;
  r.theta = theta;
  std::string type = rope.has("rope_type") ? rope.string("rope_type") : rope.string_or("type", "default");
  if (type == "default") return r;
  if (type == "linear") {
    r.type = RopeType::kLinear;
  } else if (type == "llama3") {
    r.type = RopeType::kLlama3;
  } else if (type == "yarn") {
    r.type = RopeType::kYarn;
  } else {
    rope.require(false, rope.has("rope_type") ? "rope_type" : "type", "is '", type,
                 "', which flatquant does not support (default, linear, llama3, yarn)");
  }
  r.factor = rope.number("factor");
  rope.require(r.factor > 0, "factor", "must be positive, got ", r.factor);
  if (r.type == RopeType::kLlama3) {
    r.low_freq_factor = rope.number("low_freq_factor");
    r.high_freq_factor = rope.number("high_freq_factor");
    r.original_max_position_embeddings = rope.positive("original_max_position_embeddings");
    rope.require(r.low_freq_factor > 0 && r.high_freq_factor > r.low_freq_factor, "high_freq_factor",
                 "must exceed low_freq_factor > 0, got ", r.high_freq_factor, " and ", r.low_freq_factor);
  } else if (r.type == RopeType::kYarn) {
    r.original_max_position_embeddings = rope.positive_or("original_max_position_embeddings", max_position_embeddings);
    r.beta_fast = rope.number_or("beta_fast", 32.0);
    r.beta_slow = rope.number_or("beta_slow", 1.0);
    const bool both = rope.number_or("mscale", 0.0) != 0.0 && rope.number_or("mscale_all_dim", 0.0) != 0.0;
    r.mscale = rope.number_or("mscale", 1.0);
    r.mscale_all_dim = rope.number_or("mscale_all_dim", 0.0);
    if (rope.has("attention_factor")) {
      r.attention_factor = rope.number("attention_factor");
    } else if (both) {
      r.attention_factor = yarn_get_mscale(r.factor, r.mscale) / yarn_get_mscale(r.factor, r.mscale_all_dim);
    } else {
      r.attention_factor = yarn_get_mscale(r.factor, 1.0);
    }
  }
  return r;
}

RopeConfig parse_rope_section(const Fields& f, int64_t max_position_embeddings) {
  if (f.has("rope_parameters")) {
    Fields rope = f.object("rope_parameters");
    // Per-layer-type dicts ({"full_attention": {...}}) belong to hybrid models, not to llama/deepseek_v3.
    rope.require(rope.has("rope_type") || rope.has("type"), "rope_type",
                 "is missing (per-layer-type rope parameters are not supported)");
    const double theta = rope.has("rope_theta") ? rope.number("rope_theta") : f.number_or("rope_theta", 10000.0);
    return parse_rope(rope, theta, max_position_embeddings);
  }
  const double theta = f.number_or("rope_theta", 10000.0);
  if (!f.has("rope_scaling")) {
    RopeConfig r;
    r.theta = theta;
    return r;
  }
  return parse_rope(f.object("rope_scaling"), theta, max_position_embeddings);
}

std::vector<int64_t> parse_eos(const Fields& f, int64_t fallback) {
  if (!f.has("eos_token_id")) return {fallback};
  const Json& v = f.at("eos_token_id");
  if (v.is_number_integer()) return {v.get<int64_t>()};
  f.require(v.is_array(), "eos_token_id", "must be an integer or a list of integers, got ", v.dump());
  std::vector<int64_t> ids;
  for (const Json& id : v) {
    f.require(id.is_number_integer(), "eos_token_id", "must be an integer or a list of integers, got ", v.dump());
    ids.push_back(id.get<int64_t>());
  }
  return ids;
}

void parse_fp8_quantization(const Fields& f, ModelConfig* c) {
  if (!f.has("quantization_config")) return;
  Fields q = f.object("quantization_config");
  const std::string method = q.string("quant_method");
  q.require(method == "fp8", "quant_method", "is '", method,
            "'; flatquant reads only unquantized or FP8 block-quantized checkpoints");
  const std::string fmt = q.string_or("fmt", "e4m3");
  q.require(fmt == "e4m3", "fmt", "is '", fmt, "'; only e4m3 FP8 weights are supported");
  const Json& block = q.at("weight_block_size");
  q.require(block.is_array() && block.size() == 2 && block[0].is_number_integer() && block[1].is_number_integer() &&
                block[0].get<int64_t>() > 0 && block[1].get<int64_t>() > 0,
            "weight_block_size", "must be two positive integers, got ", block.dump());
  c->fp8_block_rows = block[0].get<int64_t>();
  c->fp8_block_cols = block[1].get<int64_t>();
}

void parse_deepseek_fields(const Fields& f, ModelConfig* c) {
  // The architecture-defining sizes are required: falling back to the 671B model's values for a config
  // that omits them would load a different model than the file describes.
  f.require(f.present("q_lora_rank"), "q_lora_rank", "is missing (null stands for a plain q_proj)");
  c->q_lora_rank = f.has("q_lora_rank") ? f.positive("q_lora_rank") : 0;
  c->kv_lora_rank = f.positive("kv_lora_rank");
  c->qk_nope_head_dim = f.positive("qk_nope_head_dim");
  c->qk_rope_head_dim = f.positive("qk_rope_head_dim");
  c->v_head_dim = f.positive("v_head_dim");
  c->moe_intermediate_size = f.positive("moe_intermediate_size");
  c->n_routed_experts = f.positive("n_routed_experts");
  c->num_experts_per_tok = f.positive("num_experts_per_tok");
  // Routing knobs default as transformers' DeepseekV3Config does.
  c->n_shared_experts = f.integer_or("n_shared_experts", 1);
  c->n_group = f.positive_or("n_group", 8);
  c->topk_group = f.positive_or("topk_group", 4);
  c->first_k_dense_replace = f.integer_or("first_k_dense_replace", 3);
  c->moe_layer_freq = f.positive_or("moe_layer_freq", 1);
  c->routed_scaling_factor = f.number_or("routed_scaling_factor", 2.5);
  c->norm_topk_prob = f.boolean_or("norm_topk_prob", true);
  c->rope_interleave = f.boolean_or("rope_interleave", true);
  c->head_dim = c->qk_rope_head_dim;

  f.require(c->n_shared_experts >= 0, "n_shared_experts", "must not be negative, got ", c->n_shared_experts);
  f.require(c->first_k_dense_replace >= 0, "first_k_dense_replace", "must not be negative, got ",
            c->first_k_dense_replace);
  f.require(c->qk_rope_head_dim % 2 == 0, "qk_rope_head_dim", "must be even for rotary embeddings, got ",
            c->qk_rope_head_dim);
  f.require(c->n_routed_experts % c->n_group == 0, "n_group", "must divide n_routed_experts (", c->n_routed_experts,
            "), got ", c->n_group);
  f.require(c->topk_group <= c->n_group, "topk_group", "must not exceed n_group (", c->n_group, "), got ",
            c->topk_group);
  f.require(c->num_experts_per_tok <= c->topk_group * (c->n_routed_experts / c->n_group), "num_experts_per_tok",
            "must not exceed the experts of the topk_group selected groups (",
            c->topk_group * (c->n_routed_experts / c->n_group), "), got ", c->num_experts_per_tok);
  const std::string topk_method = f.string_or("topk_method", "noaux_tc");
  f.require(topk_method == "noaux_tc", "topk_method", "is '", topk_method, "'; only noaux_tc routing is supported");
  const std::string scoring = f.string_or("scoring_func", "sigmoid");
  f.require(scoring == "sigmoid", "scoring_func", "is '", scoring, "'; only sigmoid scoring is supported");
}

}  // namespace

bool ModelConfig::is_moe_layer(int64_t layer) const {
  return family == ModelFamily::kDeepseekV3 && n_routed_experts > 0 && layer >= first_k_dense_replace &&
         layer % moe_layer_freq == 0;
}

ModelConfig parse_model_config_text(const std::string& json_text, const std::string& where) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::parse_error& e) {
    throw Error(str(where, ": not valid JSON: ", e.what()));
  }
  FQ_CHECK(root.is_object(), where, ": expected a JSON object at the top level");
  Fields f(root, where);

  ModelConfig c;
  c.model_type = f.string("model_type");
  if (c.model_type == "llama") {
    c.family = ModelFamily::kLlama;
  } else if (c.model_type == "deepseek_v3") {
    c.family = ModelFamily::kDeepseekV3;
  } else {
    f.require(false, "model_type", "is '", c.model_type, "'; flatquant supports llama and deepseek_v3");
  }
  const bool llama = c.family == ModelFamily::kLlama;

  c.hidden_size = f.positive("hidden_size");
  c.intermediate_size = f.positive("intermediate_size");
  c.num_hidden_layers = f.positive("num_hidden_layers");
  c.num_attention_heads = f.positive("num_attention_heads");
  c.vocab_size = f.positive("vocab_size");
  c.num_key_value_heads = f.positive_or("num_key_value_heads", c.num_attention_heads);
  c.max_position_embeddings = f.positive_or("max_position_embeddings", llama ? 2048 : 4096);
  c.rms_norm_eps = f.number_or("rms_norm_eps", 1e-6);
  f.require(c.rms_norm_eps > 0, "rms_norm_eps", "must be positive, got ", c.rms_norm_eps);
  c.tie_word_embeddings = f.boolean_or("tie_word_embeddings", false);
  c.attention_bias = f.boolean_or("attention_bias", false);
  c.mlp_bias = llama && f.boolean_or("mlp_bias", false);
  c.bos_token_id = f.integer_or("bos_token_id", llama ? 1 : 0);
  c.eos_token_ids = parse_eos(f, llama ? 2 : 1);
  const std::string act = f.string_or("hidden_act", "silu");
  f.require(act == "silu", "hidden_act", "is '", act, "'; only silu MLPs are supported");
  c.rope = parse_rope_section(f, c.max_position_embeddings);

  if (llama) {
    f.require(f.has("head_dim") || c.hidden_size % c.num_attention_heads == 0, "hidden_size", "(", c.hidden_size,
              ") must be divisible by num_attention_heads (", c.num_attention_heads, ") when head_dim is absent");
    c.head_dim = f.positive_or("head_dim", c.hidden_size / c.num_attention_heads);
    f.require(c.head_dim % 2 == 0, "head_dim", "must be even for rotary embeddings, got ", c.head_dim);
    c.rope_interleave = false;
  } else {
    parse_deepseek_fields(f, &c);
  }
  f.require(c.num_attention_heads % c.num_key_value_heads == 0, "num_key_value_heads", "(", c.num_key_value_heads,
            ") must divide num_attention_heads (", c.num_attention_heads, ")");
  parse_fp8_quantization(f, &c);
  return c;
}

ModelConfig parse_model_config(const std::string& path) { return parse_model_config_text(read_file(path), path); }

}  // namespace fq::io
