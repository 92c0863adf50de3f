#include "tests/support/random_frozen_layers.h"

#include <string>

#include <ATen/ATen.h>

#include "tests/support/random_layers.h"

namespace fq::flat::test {
namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

void perturb(FlatLayer& flat, uint64_t seed, double clip_logit_mean, bool scales) {
  at::NoGradGuard ng;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, p] : flat.named_parameters()) {
    const at::TensorOptions cpu = at::TensorOptions().dtype(p.scalar_type());
    if (name.find("clip") != std::string::npos) {
      p.copy_(at::randn(p.sizes(), gen, cpu) + clip_logit_mean);
    } else if (scales && (ends_with(name, ".s") || ends_with(name, "diag"))) {
      p.copy_(at::rand(p.sizes(), gen, cpu) * 2 + 0.3);
    }
  }
}

std::map<int64_t, NamedTensors> random_frozen_layers(const io::ModelConfig& config, const FlatOptions& options,
                                                     uint64_t seed, double clip_logit_mean) {
  std::map<int64_t, NamedTensors> layers;
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    at::Generator gen = at::detail::createCPUGenerator(seed + static_cast<uint64_t>(i));
    FlatLayer flat(config, i, options, gen, at::kCPU);
    perturb(flat, seed + 1000 + static_cast<uint64_t>(i), clip_logit_mean, /*scales=*/false);
    layers[i] = flat.export_frozen();
  }
  return layers;
}

NamedTensors random_frozen_layer(const io::ModelConfig& config, int64_t layer, const FlatOptions& options,
                                 uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  FlatLayer flat(config, layer, options, gen, at::kCPU);
  perturb(flat, seed + 1, /*clip_logit_mean=*/3.0);
  return flat.export_frozen();
}

FrozenQuantOptions frozen_quant_options(const FlatOptions& options, QuantBackend backend) {
  FrozenQuantOptions q;
  q.weight = options.linear.weight;
  q.act = options.linear.act;
  q.q_cache = options.q_cache;
  q.k_cache = options.k_cache;
  q.v_cache = options.v_cache;
  q.backend = backend;
  return q;
}

std::vector<SmallLayer> small_layers(uint64_t seed) {
  const io::ModelConfig llama = model::test::small_llama_config();
  io::ModelConfig ds = model::test::small_deepseek_config(true);
  ds.first_k_dense_replace = 1;
  io::ModelConfig ds_plain_q = model::test::small_deepseek_config(false);
  ds_plain_q.first_k_dense_replace = 1;
  return {{"llama", llama, model::test::random_llama_layer(llama, seed, at::kFloat), 0},
          {"deepseek dense", ds, model::test::random_deepseek_layer(ds, false, seed + 1, at::kFloat), 0},
          {"deepseek moe", ds, model::test::random_deepseek_layer(ds, true, seed + 2, at::kFloat), 1},
          {"deepseek moe, plain q", ds_plain_q,
           model::test::random_deepseek_layer(ds_plain_q, true, seed + 3, at::kFloat), 1}};
}

FlatOptions w4a4kv4_options() {
  FlatOptions o;
  o.linear.weight = {4, true, 0};
  o.linear.act = {4, true, 0};
  o.q_cache = o.k_cache = o.v_cache = {4, false, 16};
  return o;
}

}  // namespace fq::flat::test
