// Streaming, measured: make-model writes a checkpoint of several ~90 MB layers, and walking it layer by
// layer through Checkpoint::load (every tensor of layer i loaded, then dropped) keeps the peak resident
// memory near one layer, not the whole model. Peaks are VmHWM increases over each phase's start; before
// each phase malloc_trim returns what earlier phases freed, so a phase cannot hide its allocations in
// memory the allocator kept resident.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include "lib/core/stopwatch.h"
#include "lib/io/checkpoint.h"
#include "lib/model/synthetic_checkpoint.h"
#include "lib/model/synthetic_tokenizer.h"
#include "tests/support/process_memory.h"
#include "tests/support/shared_dir.h"

namespace fq::model {
namespace {

// The brief's budget: a reader may hold one layer plus transient copies, never the model.
constexpr double kMaxPeakInLayers = 2.5;
constexpr int64_t kLayers = 4;

TEST(SyntheticCheckpointMemory, GenerateAndWalkLayerByLayerWithinBudget) {
  const std::string dir = test::scratch_dir("synthetic_memory") + "/model";
  SyntheticCheckpointOptions o;
  o.config = synthetic_config(SyntheticPreset::kTiny, io::ModelFamily::kLlama, kLayers);
  o.config["hidden_size"] = 2048;  // ~45 M parameters (90 MB BF16) per layer
  o.config["intermediate_size"] = 5632;
  o.config["num_attention_heads"] = 16;
  o.config["num_key_value_heads"] = 4;
  o.config["head_dim"] = 128;
  o.seed = 5;
  o.shard_bytes = 256ull << 20;
  o.tokenizer_json = byte_level_bpe_tokenizer({}).dump();

  malloc_trim(0);
  test::reset_peak_rss();
  const std::int64_t gen_start = test::rss_bytes();
  Stopwatch clock;
  const SyntheticCheckpointSummary summary = write_synthetic_checkpoint(dir, o);
  const double gen_seconds = clock.seconds();
  const double gen_peak = static_cast<double>(test::peak_rss_bytes() - gen_start);

  io::Checkpoint ckpt(dir);
  std::vector<std::vector<std::string>> layer_names(kLayers);
  for (const std::string& name : ckpt.names()) {
    if (name.rfind("model.layers.", 0) == 0) layer_names[std::stoll(name.substr(13))].push_back(name);
  }
  double layer_bytes = 0;
  for (const std::string& name : layer_names[0]) {
    layer_bytes += static_cast<double>(ckpt.info(name).end - ckpt.info(name).begin);
  }

  malloc_trim(0);
  test::reset_peak_rss();
  const std::int64_t walk_start = test::rss_bytes();
  clock.reset();
  double loaded = 0;
  for (int64_t layer = 0; layer < kLayers; ++layer) {
    std::vector<at::Tensor> tensors;
    for (const std::string& name : layer_names[layer]) {
      tensors.push_back(ckpt.load(name, at::kBFloat16));
      loaded += static_cast<double>(tensors.back().numel() * tensors.back().element_size());
    }
  }
  const double walk_seconds = clock.seconds();
  const double walk_peak = static_cast<double>(test::peak_rss_bytes() - walk_start);

  std::printf(
      "[memory] %lld layers of %.1f MB, %lld shards, %.2f GB written in %.1f s (peak +%.1f MB = %.2f layers); "
      "walked %.2f GB in %.1f s (peak +%.1f MB = %.2f layers)\n",
      static_cast<long long>(kLayers), layer_bytes / 1e6, static_cast<long long>(summary.shards),
      static_cast<double>(summary.data_bytes) / 1e9, gen_seconds, gen_peak / 1e6, gen_peak / layer_bytes, loaded / 1e9,
      walk_seconds, walk_peak / 1e6, walk_peak / layer_bytes);
  EXPECT_GT(layer_bytes, 80e6);
  EXPECT_NEAR(loaded, layer_bytes * kLayers, layer_bytes * 0.01);
  EXPECT_LT(walk_peak, kMaxPeakInLayers * layer_bytes) << "walking the checkpoint kept more than a layer resident";
  EXPECT_LT(gen_peak, kMaxPeakInLayers * layer_bytes) << "generation held more than a layer";
}

}  // namespace
}  // namespace fq::model
