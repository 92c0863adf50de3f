// FlatQuant layers against the full-precision model and against their own folded (evaluation) form.
#include "lib/flat/flat_layer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>

#include "lib/flat/frozen_layer.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/rope.h"
#include "tests/support/random_frozen_layers.h"
#include "tests/support/random_layers.h"

namespace fq::flat {
namespace {

using model::test::relative_l2;

constexpr double kExactTol = 1e-10;   // float64: transforms cancel exactly up to rounding
constexpr double kFoldedTol = 1e-6;   // float64 W4A4: same quantizers, different op order (rounding ties)
// The MoE diag folds into the router's columns, and the router always runs in float32 (as HF's does):
// routing weights then move by float32 rounding.
constexpr double kRouterFloat32Tol = 1e-6;

struct Fixture {
  io::ModelConfig config;
  model::LayerWeights weights;
  int64_t layer;
};

Fixture llama() {
  at::manual_seed(1);
  io::ModelConfig c = model::test::small_llama_config();
  return {c, model::test::random_llama_layer(c, 1, at::kDouble), 0};
}

Fixture deepseek(bool moe, bool q_lora) {
  at::manual_seed(2);
  io::ModelConfig c = model::test::small_deepseek_config(q_lora);
  c.first_k_dense_replace = 1;
  return {c, model::test::random_deepseek_layer(c, moe, 2, at::kDouble), moe ? 1 : 0};
}

at::Tensor input(const io::ModelConfig& c) {
  at::manual_seed(3);
  return at::randn({2, 8, c.hidden_size}, at::kDouble);
}

at::Tensor forward(const Fixture& f, const model::LayerWeights& w, model::LayerHooks& hooks, const at::Tensor& x) {
  const model::RopeTables rope = model::RotaryEmbedding::for_model(f.config).tables(x.size(1), at::kDouble, at::kCPU);
  return model::layer_forward(f.config, w, x, rope, hooks);
}

FlatOptions options(int bits, bool per_expert) {
  FlatOptions o;
  o.linear.weight = {bits, true, 0};
  o.linear.act = {bits, true, 0};
  o.param_dtype = at::kDouble;
  o.per_expert_down_transform = per_expert;
  o.per_expert_act_quantizers = per_expert;
  return o;
}

void perturb(FlatLayer& flat) { test::perturb(flat, /*seed=*/4, /*clip_logit_mean=*/1.5); }

std::vector<Fixture> all_fixtures() { return {llama(), deepseek(false, true), deepseek(true, true), deepseek(true, false)}; }

TEST(FlatLayer, TransformsCancelExactlyWithoutQuantization) {
  for (bool per_expert : {false, true}) {
    for (const Fixture& f : all_fixtures()) {
      at::Generator gen = at::detail::createCPUGenerator(5);
      FlatLayer flat(f.config, f.layer, options(16, per_expert), gen, at::kCPU);
      perturb(flat);
      flat.refresh();
      model::LayerHooks fp;
      const at::Tensor x = input(f.config);
      at::NoGradGuard ng;
      EXPECT_LT(relative_l2(forward(f, f.weights, flat, x), forward(f, f.weights, fp, x)), kExactTol)
          << f.config.model_type << " layer " << f.layer << " per_expert=" << per_expert;
    }
  }
}

TEST(FrozenLayer, FoldedTransformsReproduceTheFullPrecisionLayer) {
  for (const Fixture& f : all_fixtures()) {
    at::Generator gen = at::detail::createCPUGenerator(6);
    FlatLayer flat(f.config, f.layer, options(16, false), gen, at::kCPU);
    perturb(flat);
    FrozenQuantOptions off;
    off.weight.bits = off.act.bits = 16;
    model::LayerWeights folded = model::test::clone_layer(f.weights);
    FrozenLayer frozen(f.config, f.layer, folded, flat.export_frozen(), off);
    model::LayerHooks fp;
    const at::Tensor x = input(f.config);
    at::NoGradGuard ng;
    const bool moe = f.config.family == io::ModelFamily::kDeepseekV3 && f.layer > 0;
    EXPECT_LT(relative_l2(forward(f, folded, frozen, x), forward(f, f.weights, fp, x)),
              moe ? kRouterFloat32Tol : kExactTol)
        << f.config.model_type << " layer " << f.layer;
  }
}

TEST(FrozenLayer, FoldedW4A4MatchesTheCalibrationForward) {
  for (bool per_expert : {false, true}) {
    for (const Fixture& f : all_fixtures()) {
      at::Generator gen = at::detail::createCPUGenerator(7);
      FlatOptions o = options(4, per_expert);
      if (f.config.family == io::ModelFamily::kLlama) o.k_cache = o.v_cache = o.q_cache = {4, false, 16};
      FlatLayer flat(f.config, f.layer, o, gen, at::kCPU);
      perturb(flat);
      flat.refresh();
      FrozenQuantOptions q;
      q.k_cache = o.k_cache;
      q.v_cache = o.v_cache;
      q.q_cache = o.q_cache;
      model::LayerWeights folded = model::test::clone_layer(f.weights);
      FrozenLayer frozen(f.config, f.layer, folded, flat.export_frozen(), q);
      const at::Tensor x = input(f.config);
      at::NoGradGuard ng;
      const at::Tensor expected = forward(f, f.weights, flat, x);
      const double err = relative_l2(forward(f, folded, frozen, x), expected);
      EXPECT_LT(err, kFoldedTol) << f.config.model_type << " layer " << f.layer << " per_expert=" << per_expert;
      // and quantization really happened: far from the full-precision layer
      model::LayerHooks fp;
      EXPECT_GT(relative_l2(expected, forward(f, f.weights, fp, x)), 1e-3);
    }
  }
}

TEST(FlatLayer, EveryTrainableParameterGetsAGradient) {
  for (const Fixture& f : all_fixtures()) {
    at::Generator gen = at::detail::createCPUGenerator(8);
    FlatOptions o = options(4, false);
    FlatLayer flat(f.config, f.layer, o, gen, at::kCPU);
    perturb(flat);
    flat.refresh();
    const at::Tensor x = input(f.config);
    model::LayerHooks fp;
    at::Tensor target;
    {
      at::NoGradGuard ng;
      target = forward(f, f.weights, fp, x);
    }
    (forward(f, f.weights, flat, x) - target).pow(2).mean().backward();
    // A symmetric activation quantizer takes its scale from the larger of max and |min|, so only one of
    // its two clip logits gets a gradient from a given batch: check the pair.
    std::map<std::string, double> grad_sum;
    for (auto& [name, p] : flat.named_parameters()) {
      ASSERT_TRUE(p.grad().defined()) << f.config.model_type << " " << name;
      std::string key = name;
      if (key.find("act_clip_") != std::string::npos) key = key.substr(0, key.find("act_clip_"));
      grad_sum[key] += p.grad().abs().sum().item<double>();
    }
    for (const auto& [name, g] : grad_sum) EXPECT_GT(g, 0) << f.config.model_type << " " << name;
  }
}

}  // namespace
}  // namespace fq::flat
