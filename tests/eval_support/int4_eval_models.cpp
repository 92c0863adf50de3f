#include "tests/eval_support/int4_eval_models.h"

#include <map>
#include <memory>

#include <ATen/ATen.h>

#include "lib/core/atomic_file.h"
#include "lib/io/checkpoint.h"
#include "lib/io/tokenizer.h"
#include "lib/model/perplexity.h"
#include "pipelines/config/quant_options.h"
#include "pipelines/evaluate/eval_model.h"
#include "tests/support/bf16_output_fake.h"
#include "tests/support/random_frozen_layers.h"
#include "tests/support/shared_dir.h"

namespace fq::test {
namespace {

constexpr int64_t kWindowTokens = 256;
constexpr uint64_t kFrozenSeed = 2024;
// sigmoid(3) ~ 0.95: the clip factors clip, mildly (a calibration lands there too).
constexpr double kClipLogitMean = 3.0;

std::map<int64_t, flat::NamedTensors> frozen_layers(const io::ModelConfig& config, const pipelines::QuantConfig& quant) {
  flat::FlatOptions o;
  o.linear.weight = {static_cast<int>(quant.w_bits), !quant.w_asym, 0};
  o.linear.act = {static_cast<int>(quant.a_bits), !quant.a_asym, 0};
  o.k_cache = {static_cast<int>(quant.k_bits), !quant.k_asym, quant.k_groupsize};
  o.v_cache = {static_cast<int>(quant.v_bits), !quant.v_asym, quant.v_groupsize};
  return flat::test::random_frozen_layers(config, o, kFrozenSeed, kClipLogitMean);
}

double perplexity(const io::Checkpoint& checkpoint, const model::HooksForLayer& hooks, c10::Device device,
                  c10::ScalarType dtype, int64_t windows) {
  const io::Tokenizer tokenizer = io::Tokenizer::from_model_dir(checkpoint.dir());
  std::vector<int64_t> ids = tokenizer.encode(read_file(shared_path("data/kjv/kjv.test.txt")));
  ids.resize(std::min<size_t>(ids.size(), static_cast<size_t>(windows * kWindowTokens)));
  model::PerplexityOptions p;
  p.window = kWindowTokens;
  p.model.device = device;
  p.model.dtype = dtype;
  p.model.micro_batch = 4;
  return model::perplexity(checkpoint, ids, p, hooks).perplexity;
}

}  // namespace

BackendPerplexity backend_perplexity(const std::string& model, const pipelines::QuantConfig& quant,
                                     flat::QuantBackend backend, c10::Device device, c10::ScalarType dtype,
                                     int64_t windows) {
  const io::Checkpoint checkpoint(shared_path("models/" + model));
  pipelines::EvalModel eval(checkpoint, frozen_layers(checkpoint.config(), quant), quant, backend);
  const double ppl = perplexity(checkpoint, eval.hooks(), device, dtype, windows);
  return {ppl, eval.weight_memory()};
}

double bf16_output_fake_perplexity(const std::string& model, const pipelines::QuantConfig& quant, c10::Device device,
                                   c10::ScalarType dtype, int64_t windows) {
  const io::Checkpoint checkpoint(shared_path("models/" + model));
  const std::map<int64_t, flat::NamedTensors> layers = frozen_layers(checkpoint.config(), quant);
  const flat::FrozenQuantOptions options = pipelines::frozen_options(quant);
  auto hooks = [&](int64_t layer, model::LayerWeights& weights) -> std::unique_ptr<model::LayerHooks> {
    return std::make_unique<flat::test::Bf16OutputFake>(checkpoint.config(), layer, weights, layers.at(layer), options);
  };
  return perplexity(checkpoint, hooks, device, dtype, windows);
}

}  // namespace fq::test
