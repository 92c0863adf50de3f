#include "tests/eval_support/int4_eval_models.h"

#include <ATen/ATen.h>

#include "lib/core/atomic_file.h"
#include "lib/io/checkpoint.h"
#include "lib/io/tokenizer.h"
#include "lib/model/perplexity.h"
#include "pipelines/evaluate/eval_model.h"
#include "tests/support/random_frozen_layers.h"
#include "tests/support/shared_dir.h"

namespace fq::test {
namespace {

constexpr int64_t kWindowTokens = 256;
constexpr uint64_t kFrozenSeed = 2024;
// sigmoid(3) ~ 0.95: the clip factors clip, mildly (a calibration lands there too).
constexpr double kClipLogitMean = 3.0;

}  // namespace

BackendPerplexity backend_perplexity(const std::string& model, const pipelines::QuantConfig& quant,
                                     flat::QuantBackend backend, c10::Device device, c10::ScalarType dtype,
                                     int64_t windows) {
  const io::Checkpoint checkpoint(shared_path("models/" + model));
  flat::FlatOptions o;
  o.linear.weight = {static_cast<int>(quant.w_bits), !quant.w_asym, 0};
  o.linear.act = {static_cast<int>(quant.a_bits), !quant.a_asym, 0};
  o.k_cache = {static_cast<int>(quant.k_bits), !quant.k_asym, quant.k_groupsize};
  o.v_cache = {static_cast<int>(quant.v_bits), !quant.v_asym, quant.v_groupsize};
  pipelines::EvalModel eval(checkpoint, flat::test::random_frozen_layers(checkpoint.config(), o, kFrozenSeed, kClipLogitMean),
                            quant, backend);

  const io::Tokenizer tokenizer = io::Tokenizer::from_model_dir(checkpoint.dir());
  std::vector<int64_t> ids = tokenizer.encode(read_file(shared_path("data/kjv/kjv.test.txt")));
  ids.resize(std::min<size_t>(ids.size(), static_cast<size_t>(windows * kWindowTokens)));
  model::PerplexityOptions p;
  p.window = kWindowTokens;
  p.model.device = device;
  p.model.dtype = dtype;
  p.model.micro_batch = 4;
  return {model::perplexity(checkpoint, ids, p, eval.hooks()).perplexity, eval.weight_memory()};
}

}  // namespace fq::test
