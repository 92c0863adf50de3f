#include "lib/model/synthetic_checkpoint.h"

#include <filesystem>
#include <map>
#include <set>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/atomic_file.h"
#include "lib/io/checkpoint.h"
#include "lib/io/fp8_e4m3.h"
#include "lib/model/synthetic_tokenizer.h"
#include "lib/model/synthetic_weights.h"
#include "tests/support/expect_error.h"
#include "tests/support/shared_dir.h"

namespace fq::model {
namespace {

using io::ModelFamily;

constexpr std::uint64_t kSeed = 1234;

SyntheticCheckpointOptions tiny_options(ModelFamily family, bool fp8, std::uint64_t shard_bytes) {
  SyntheticCheckpointOptions o;
  o.config = synthetic_config(SyntheticPreset::kTiny, family);
  o.seed = kSeed;
  o.fp8 = fp8;
  o.shard_bytes = shard_bytes;
  o.tokenizer_json = byte_level_bpe_tokenizer({}).dump();
  return o;
}

// A scratch directory named after the running test, so that tests running in parallel processes never
// share (and delete) each other's files.
std::string test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = str(info->test_suite_name(), ".", info->name());
  for (char& ch : name) ch = (ch == '/') ? '_' : ch;
  return test::scratch_dir(name);
}

std::string tiny_checkpoint(ModelFamily family, bool fp8) {
  const std::string dir = test_dir() + "/model";
  write_synthetic_checkpoint(dir, tiny_options(family, fp8, 3 << 20));  // 3 MiB shards: several of them
  return dir;
}

struct Variant {
  ModelFamily family;
  bool fp8;
  const char* shared_model;
};

class SyntheticCheckpoint : public ::testing::TestWithParam<Variant> {};

TEST_P(SyntheticCheckpoint, LoadsBackBitIdentically) {
  const Variant v = GetParam();
  io::Checkpoint ckpt(tiny_checkpoint(v.family, v.fp8));
  const std::vector<WeightRecipe> recipes = synthetic_weight_recipes(ckpt.config(), kSeed, v.fp8, true);
  std::size_t tensors = 0;
  for (const WeightRecipe& r : recipes) {
    const StoredRows want = synthesize_stored_rows(r, kSeed, 0, r.rows());
    ASSERT_TRUE(at::equal(ckpt.load_raw(r.name), want.data)) << r.name;
    ++tensors;
    if (r.dtype == io::StDtype::kF8E4M3) {
      ASSERT_TRUE(at::equal(ckpt.load_raw(r.name + "_scale_inv"), want.scale_inv)) << r.name;
      ++tensors;
    }
  }
  EXPECT_EQ(ckpt.names().size(), tensors) << "nothing beyond the recipes is written";
}

TEST_P(SyntheticCheckpoint, IndexCoversEveryTensorOfEveryShard) {
  const Variant v = GetParam();
  const std::string dir = tiny_checkpoint(v.family, v.fp8);
  const Json index = read_json_file(dir + "/model.safetensors.index.json");
  std::set<std::string> shard_files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 12 && name.compare(name.size() - 12, 12, ".safetensors") == 0) shard_files.insert(name);
  }
  ASSERT_GE(shard_files.size(), 3u) << "3 MiB shards split the tiny model";
  std::uint64_t data_bytes = 0;
  std::size_t tensors = 0;
  for (const std::string& file : shard_files) {
    EXPECT_EQ(file.rfind("model-0000", 0), 0u) << file;
    EXPECT_NE(file.find(str("-of-0000", shard_files.size(), ".safetensors")), std::string::npos) << file;
    io::SafetensorsFile shard(dir + "/" + file);
    for (const std::string& name : shard.names()) {
      ASSERT_TRUE(index["weight_map"].contains(name)) << name << " of " << file << " is not in the index";
      EXPECT_EQ(index["weight_map"][name].get<std::string>(), file) << name;
      data_bytes += shard.info(name).end - shard.info(name).begin;
      ++tensors;
    }
    // Data within the shard size; the header (a few KiB of JSON) comes on top.
    EXPECT_LE(shard.info(shard.names().back()).end, 3u << 20) << file << " exceeds the shard size";
  }
  EXPECT_EQ(index["weight_map"].size(), tensors) << "the index names only tensors that exist";
  EXPECT_EQ(index["metadata"]["total_size"].get<std::uint64_t>(), data_bytes);
}

// Names, shapes and dtypes as the shared tiny models (made with transformers) have them.
TEST_P(SyntheticCheckpoint, MatchesTheSharedTinyModel) {
  FQ_REQUIRE_SHARED();
  const Variant v = GetParam();
  const std::string dir = tiny_checkpoint(v.family, v.fp8);
  const std::string shared = test::shared_path(std::string("models/") + v.shared_model);
  io::Checkpoint ours(dir);
  io::Checkpoint theirs(shared);
  ASSERT_EQ(ours.names(), theirs.names());
  for (const std::string& name : ours.names()) {
    EXPECT_EQ(ours.info(name).shape, theirs.info(name).shape) << name;
    // REFERENCE.md section 3: the release stores the selection bias as float32 (the shared tiny models BF16).
    const bool bias = name.find("e_score_correction_bias") != std::string::npos;
    EXPECT_EQ(ours.info(name).dtype, bias ? io::StDtype::kF32 : theirs.info(name).dtype) << name;
  }
  // config.json: the shared model's fields with the same values (bar the MTP layer count: none is written).
  const Json a = read_json_file(dir + "/config.json");
  const Json b = read_json_file(shared + "/config.json");
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (it.key() == "num_nextn_predict_layers" || it.key() == "ep_size") continue;
    ASSERT_TRUE(a.contains(it.key())) << it.key();
    EXPECT_EQ(a[it.key()], it.value()) << it.key();
  }
  for (const char* file : {"generation_config.json", "tokenizer_config.json"}) {
    const Json ga = read_json_file(dir + "/" + file);
    const Json gb = read_json_file(shared + "/" + file);
    for (const char* key : {"bos_token_id", "eos_token_id", "bos_token", "eos_token", "tokenizer_class"}) {
      if (gb.contains(key)) {
        EXPECT_EQ(ga[key], gb[key]) << file << " " << key;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tiny, SyntheticCheckpoint,
                         ::testing::Values(Variant{ModelFamily::kLlama, false, "tiny-llama3"},
                                           Variant{ModelFamily::kDeepseekV3, false, "tiny-deepseek-v3"},
                                           Variant{ModelFamily::kDeepseekV3, true, "tiny-deepseek-v3-fp8"}),
                         [](const auto& info) {
                           return str(info.param.family == ModelFamily::kLlama ? "Llama" : "Deepseek",
                                      info.param.fp8 ? "Fp8" : "Bf16");
                         });

// E4M3 rounding bound per element (as in tests/unit/io/fp8_e4m3_test.cpp): 2^-4 relative for normals,
// 2^-10 of the block scale for subnormals, with slack for the float32 division before encoding.
TEST(SyntheticCheckpointFp8, DequantizesWithinTheE4M3BoundOfTheGeneratedWeights) {
  io::Checkpoint ckpt(tiny_checkpoint(ModelFamily::kDeepseekV3, true));
  EXPECT_EQ(ckpt.config().fp8_block_rows, 128);
  int checked = 0;
  for (const WeightRecipe& r : synthetic_weight_recipes(ckpt.config(), kSeed, true, true)) {
    if (r.dtype != io::StDtype::kF8E4M3) continue;
    const at::Tensor w = synthesize_rows(r, kSeed, 0, r.rows()).to(at::kDouble);
    const at::Tensor d = ckpt.load(r.name, at::kDouble);
    const at::Tensor s = ckpt.load_raw(r.name + "_scale_inv")
                             .repeat_interleave(128, 0)
                             .slice(0, 0, r.rows())
                             .repeat_interleave(128, 1)
                             .slice(1, 0, r.cols())
                             .to(at::kDouble);
    const at::Tensor bound = (w.abs() / 16 + s / 1024) * (1 + 1e-6);
    ASSERT_TRUE(((d - w).abs() <= bound).all().item<bool>()) << r.name;
    ++checked;
  }
  EXPECT_EQ(checked, 8 + 3 * (5 + 16 * 3 + 3));
}

TEST(SyntheticCheckpointWrite, LayersOptionGivesASelfConsistentCheckpoint) {
  const std::string dir = test_dir() + "/model";
  SyntheticCheckpointOptions o = tiny_options(ModelFamily::kDeepseekV3, false, 4096ull << 20);
  o.config = synthetic_config(SyntheticPreset::kTiny, ModelFamily::kDeepseekV3, 2);
  const SyntheticCheckpointSummary s = write_synthetic_checkpoint(dir, o);
  io::Checkpoint ckpt(dir);
  EXPECT_EQ(ckpt.config().num_hidden_layers, 2);
  EXPECT_EQ(s.shards, 1);
  EXPECT_TRUE(ckpt.contains("model.layers.1.mlp.experts.15.down_proj.weight"));
  EXPECT_FALSE(ckpt.contains("model.layers.2.input_layernorm.weight"));
  EXPECT_TRUE(ckpt.contains("lm_head.weight"));
  EXPECT_EQ(static_cast<int64_t>(ckpt.names().size()), s.tensors);
}

TEST(SyntheticCheckpointWrite, SeedAndOutliersChangeTheWeights) {
  const std::string base = test_dir();
  SyntheticCheckpointOptions o = tiny_options(ModelFamily::kLlama, false, 4096ull << 20);
  o.config["num_hidden_layers"] = 1;
  write_synthetic_checkpoint(base + "/a", o);
  o.seed = kSeed + 1;
  write_synthetic_checkpoint(base + "/b", o);
  o.seed = kSeed;
  o.outliers = false;
  write_synthetic_checkpoint(base + "/c", o);
  const std::string q = "model.layers.0.self_attn.q_proj.weight";
  const std::string norm = "model.layers.0.input_layernorm.weight";
  io::Checkpoint a(base + "/a"), b(base + "/b"), c(base + "/c");
  EXPECT_FALSE(at::equal(a.load_raw(q), b.load_raw(q)));
  EXPECT_NE(a.fingerprint(), b.fingerprint()) << "same config, names and shapes; the sampled data differs";
  const at::Tensor planted = a.load(norm, at::kFloat);
  const at::Tensor plain = c.load(norm, at::kFloat);
  EXPECT_GT((planted / plain).max().item<float>(), 15.0f) << "planted norm channels are scaled by 16..64";
  EXPECT_EQ(((planted / plain) != 1.0f).sum().item<int64_t>(), 4) << "4 outlier channels of 256";
}

TEST(SyntheticCheckpointWrite, RefusesANonEmptyDirectoryAndBadConfigs) {
  const std::string dir = test_dir();
  write_file_atomic(dir + "/something", "x");
  SyntheticCheckpointOptions o = tiny_options(ModelFamily::kLlama, false, 4096ull << 20);
  test::expect_error([&] { write_synthetic_checkpoint(dir, o); }, {dir, "not empty"});
  o.config["num_attention_heads"] = 7;
  test::expect_error([&] { write_synthetic_checkpoint(dir + "/new", o); },
                     {dir + "/new/config.json", "num_attention_heads"});
  test::expect_error([] { parse_synthetic_preset("llama-2-7b"); }, {"llama-2-7b", "deepseek-v3"});
}

}  // namespace
}  // namespace fq::model
