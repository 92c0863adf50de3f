// One-rank evaluation with resident layers (built once, a pipeline of one stage) against the streamed
// layer-by-layer walk: the same rows bit for bit, call after call; the weight estimate behind `--layers
// auto` against the checkpoints' own tensor sizes; the decision and the option's errors.
#include "pipelines/evaluate/layer_residency.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "lib/io/checkpoint.h"
#include "pipelines/evaluate/eval_forward.h"
#include "tests/support/expect_error.h"
#include "tests/support/numbered_rows.h"
#include "tests/support/shared_dir.h"

namespace fq::pipelines {
namespace {

TEST(LayerResidency, ResidentLayersGiveTheRowsOfTheStreamedWalkOnEveryCall) {
  FQ_REQUIRE_SHARED();
  for (const std::string name : {"tiny-llama3", "tiny-deepseek-v3"}) {
    const io::Checkpoint checkpoint(test::shared_path("models/" + name));
    model::ModelOptions options;
    options.micro_batch = 3;
    at::manual_seed(11);
    const int64_t vocab = checkpoint.config().vocab_size;
    auto tokens = [&](std::vector<int64_t> shape) { return at::randint(0, vocab, shape, at::kLong); };
    const at::Tensor prefix = tokens({13});
    // Whole rows, rows after a prefix, and rows after the prefix in groups after their stems (one group
    // without): micro-batches that do not divide the batches.
    const std::vector<TokenWalk> first_call = {
        {{at::Tensor(), tokens({5, 9})}, {prefix, tokens({4, 6})}},
        {{prefix, tokens({6, 3}), {tokens({5}), at::Tensor(), tokens({2})}, {3, 1, 2}}}};
    const std::vector<TokenWalk> second_call = {{{tokens({7}), tokens({2, 8})}, {at::Tensor(), tokens({3, 4})}}};
    const QuantConfig w4a4;
    EvalModel resident_model(checkpoint, EvalMethod::kRtn, "", w4a4, flat::QuantBackend::kFake);
    EvalForward resident(checkpoint, resident_model, options, LayerResidency::kResident);
    EvalModel streamed_model(checkpoint, EvalMethod::kRtn, "", w4a4, flat::QuantBackend::kFake);
    EvalForward streamed(checkpoint, streamed_model, options, LayerResidency::kStream);
    for (const auto* walks : {&first_call, &second_call}) {
      const at::Tensor got = resident.run(*walks, test::numbered_last_logits);
      const at::Tensor want = streamed.run(*walks, test::numbered_last_logits);
      ASSERT_EQ(got.sizes(), want.sizes()) << name;
      EXPECT_TRUE(at::equal(got.select(1, 0), at::arange(got.size(0), at::kDouble))) << name << ": rows out of order";
      EXPECT_TRUE(at::equal(got, want)) << name << ": max difference " << (got - want).abs().max().item<double>();
    }
    // Every layer was built once by the resident forward, as by each streamed call.
    EXPECT_EQ(resident.weight_memory().fake_linears, streamed.weight_memory().fake_linears) << name;
  }
}

// The estimate counts the decoder layers' linears, the embedding and the head: within 3% of the stored
// tensors (norms and the MoE router are what it leaves out).
TEST(LayerResidency, WeightEstimateMatchesTheCheckpointsTensors) {
  FQ_REQUIRE_SHARED();
  for (const std::string name : {"tiny-llama3", "tiny-deepseek-v3"}) {
    const io::Checkpoint checkpoint(test::shared_path("models/" + name));
    double stored = 0;
    for (const std::string& tensor : checkpoint.names()) {
      if (tensor.size() > 10 && tensor.compare(tensor.size() - 10, 10, "_scale_inv") == 0) continue;
      double numel = 1;
      for (int64_t d : checkpoint.info(tensor).shape) numel *= static_cast<double>(d);
      stored += numel;
    }
    const double float_bytes = static_cast<double>(resident_weight_bytes(checkpoint.config(), false, at::kFloat));
    std::printf("[ measure  ] %s: estimate %.0f bytes, stored parameters x 4 = %.0f\n", name.c_str(), float_bytes,
                4 * stored);
    EXPECT_NEAR(float_bytes / (4 * stored), 1.0, 0.03) << name;
    // bf16 halves everything; packed int4 leaves only the embedding and head at the dtype's size.
    const double bf16_bytes = static_cast<double>(resident_weight_bytes(checkpoint.config(), false, at::kBFloat16));
    EXPECT_NEAR(bf16_bytes, float_bytes / 2, 1.0) << name;
    const io::ModelConfig& c = checkpoint.config();
    const double outside = 2.0 * static_cast<double>(c.vocab_size * c.hidden_size) + static_cast<double>(c.hidden_size);
    const double int4_bytes = static_cast<double>(resident_weight_bytes(c, true, at::kBFloat16));
    EXPECT_NEAR(int4_bytes - 2 * outside, (bf16_bytes - 2 * outside) / 4, 1.0) << name;
  }
}

TEST(LayerResidency, AutoKeepsLayersThatFitInTheShareOfAvailableMemory) {
  EXPECT_TRUE(keep_layers_resident(LayerResidency::kAuto, 80, 100));
  EXPECT_FALSE(keep_layers_resident(LayerResidency::kAuto, 81, 100));
  EXPECT_FALSE(keep_layers_resident(LayerResidency::kAuto, 1, 0));  // unknown memory: stream
  EXPECT_TRUE(keep_layers_resident(LayerResidency::kResident, 1000, 100));
  EXPECT_FALSE(keep_layers_resident(LayerResidency::kStream, 1, 100));
}

TEST(LayerResidency, OptionNamesItsValues) {
  for (const LayerResidency r : {LayerResidency::kAuto, LayerResidency::kResident, LayerResidency::kStream}) {
    EXPECT_EQ(parse_layer_residency(layer_residency_name(r), "--layers"), r);
  }
  test::expect_error([] { parse_layer_residency("keep", "--layers"); }, {"--layers", "'keep'", "resident", "stream"});
}

}  // namespace
}  // namespace fq::pipelines
