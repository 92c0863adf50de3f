#include "lib/io/checkpoint.h"

#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/atomic_file.h"
#include "lib/core/json.h"
#include "lib/io/fp8_e4m3.h"
#include "tests/support/expect_error.h"
#include "tests/support/shared_dir.h"

namespace fq::io {
namespace {

const char* kConfig = R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
  "num_hidden_layers": 1, "num_attention_heads": 4, "vocab_size": 32})";

struct TwoShardCheckpoint {
  std::string dir;
  at::Tensor embed, q, norm, fp8_weight;
  Fp8Blocks fp8;
};

// A two-shard checkpoint: the FP8 weight in shard 1, its scale in shard 2 (scales and weights need not
// share a shard).
TwoShardCheckpoint make_two_shards(const std::string& name, const char* config = kConfig) {
  TwoShardCheckpoint c;
  c.dir = test::scratch_dir(name);
  at::manual_seed(3);
  c.embed = at::randn({32, 64}).to(at::kBFloat16);
  c.q = at::randn({64, 64}).to(at::kBFloat16);
  c.norm = at::rand({64}).add(0.5).to(at::kBFloat16);
  c.fp8_weight = at::randn({200, 64}).mul(0.05);
  c.fp8 = fp8_block_quantize(c.fp8_weight, 128, 128);
  write_file_atomic(c.dir + "/config.json", config);
  write_safetensors(c.dir + "/model-00001-of-00002.safetensors",
                    {{"model.embed_tokens.weight", c.embed},
                     {"model.layers.0.self_attn.q_proj.weight", c.q},
                     {"model.layers.0.mlp.up_proj.weight", c.fp8.codes, /*fp8_e4m3=*/true}});
  write_safetensors(c.dir + "/model-00002-of-00002.safetensors",
                    {{"model.layers.0.input_layernorm.weight", c.norm},
                     {"model.layers.0.mlp.up_proj.weight_scale_inv", c.fp8.scale_inv}});
  Json index = {{"metadata", {{"total_size", 0}}},
                {"weight_map",
                 {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                  {"model.layers.0.self_attn.q_proj.weight", "model-00001-of-00002.safetensors"},
                  {"model.layers.0.mlp.up_proj.weight", "model-00001-of-00002.safetensors"},
                  {"model.layers.0.input_layernorm.weight", "model-00002-of-00002.safetensors"},
                  {"model.layers.0.mlp.up_proj.weight_scale_inv", "model-00002-of-00002.safetensors"}}}};
  write_json_file_atomic(c.dir + "/model.safetensors.index.json", index);
  return c;
}

TEST(Checkpoint, LoadsAcrossShardsWithConversionAndFp8Dequant) {
  TwoShardCheckpoint c = make_two_shards("ckpt_shards");
  Checkpoint ckpt(c.dir);
  EXPECT_EQ(ckpt.config().hidden_size, 64);
  EXPECT_EQ(ckpt.names().size(), 5u);
  EXPECT_TRUE(ckpt.contains("model.layers.0.input_layernorm.weight"));
  EXPECT_FALSE(ckpt.contains("lm_head.weight"));

  EXPECT_TRUE(at::equal(ckpt.load("model.embed_tokens.weight", at::kBFloat16), c.embed));
  EXPECT_TRUE(at::equal(ckpt.load("model.layers.0.self_attn.q_proj.weight", at::kFloat), c.q.to(at::kFloat)));
  EXPECT_TRUE(at::equal(ckpt.load_raw("model.layers.0.input_layernorm.weight"), c.norm));
  EXPECT_EQ(ckpt.info("model.layers.0.mlp.up_proj.weight").dtype, StDtype::kF8E4M3);

  at::Tensor up = ckpt.load("model.layers.0.mlp.up_proj.weight", at::kFloat);
  EXPECT_TRUE(at::equal(up, fp8_block_dequantize(c.fp8.codes, c.fp8.scale_inv, 128, 128, "up")));
  EXPECT_TRUE(at::equal(ckpt.load_raw("model.layers.0.mlp.up_proj.weight"), c.fp8.codes));
  at::Tensor up_bf16 = ckpt.load("model.layers.0.mlp.up_proj.weight", at::kBFloat16);
  EXPECT_EQ(up_bf16.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(up_bf16, up.to(at::kBFloat16)));
}

TEST(Checkpoint, SingleFileCheckpoint) {
  const std::string dir = test::scratch_dir("ckpt_single");
  write_file_atomic(dir + "/config.json", kConfig);
  at::Tensor w = at::randn({4, 64});
  write_safetensors(dir + "/model.safetensors", {{"b", w}, {"a", w * 2}});
  Checkpoint ckpt(dir);
  EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(at::equal(ckpt.load("a", at::kFloat), w * 2));
  EXPECT_TRUE(at::equal(ckpt.load("b", at::kDouble), w.to(at::kDouble)));
}

TEST(Checkpoint, FingerprintIsStableAndSeesShapesConfigAndData) {
  TwoShardCheckpoint a = make_two_shards("ckpt_fp_a");
  const std::string fp = Checkpoint(a.dir).fingerprint();
  EXPECT_EQ(fp.size(), 16u);
  EXPECT_EQ(Checkpoint(a.dir).fingerprint(), fp);
  TwoShardCheckpoint b = make_two_shards("ckpt_fp_b");
  EXPECT_EQ(Checkpoint(b.dir).fingerprint(), fp) << "same content in another directory";

  write_safetensors(b.dir + "/model-00002-of-00002.safetensors",
                    {{"model.layers.0.input_layernorm.weight", at::ones({32}, at::kBFloat16)},
                     {"model.layers.0.mlp.up_proj.weight_scale_inv", b.fp8.scale_inv}});
  EXPECT_NE(Checkpoint(b.dir).fingerprint(), fp) << "a changed shape";
  TwoShardCheckpoint e = make_two_shards("ckpt_fp_e");
  write_safetensors(e.dir + "/model-00002-of-00002.safetensors",
                    {{"model.layers.0.input_layernorm.weight", e.norm * 2},
                     {"model.layers.0.mlp.up_proj.weight_scale_inv", e.fp8.scale_inv}});
  EXPECT_NE(Checkpoint(e.dir).fingerprint(), fp) << "the same names and shapes with other weights";
  TwoShardCheckpoint d = make_two_shards("ckpt_fp_d");
  Json cfg = Json::parse(kConfig);
  cfg["rms_norm_eps"] = 1e-5;
  write_json_file_atomic(d.dir + "/config.json", cfg);
  EXPECT_NE(Checkpoint(d.dir).fingerprint(), fp) << "a changed config";
}

TEST(CheckpointErrors, MissingShardNamesIndexAndShard) {
  TwoShardCheckpoint c = make_two_shards("ckpt_missing_shard");
  std::filesystem::remove(c.dir + "/model-00002-of-00002.safetensors");
  test::expect_error([&] { Checkpoint ckpt(c.dir); },
                     {c.dir + "/model.safetensors.index.json", "model-00002-of-00002.safetensors", "missing"});
}

TEST(CheckpointErrors, MissingTensorNamesCheckpointAndTensor) {
  TwoShardCheckpoint c = make_two_shards("ckpt_missing_tensor");
  Checkpoint ckpt(c.dir);
  test::expect_error([&] { ckpt.load("model.layers.7.mlp.down_proj.weight", at::kFloat); },
                     {c.dir, "model.layers.7.mlp.down_proj.weight"});
  test::expect_error([&] { ckpt.info("nope"); }, {c.dir, "'nope'"});
}

TEST(CheckpointErrors, IndexPointingAtTheWrongShard) {
  TwoShardCheckpoint c = make_two_shards("ckpt_wrong_shard");
  Json index = read_json_file(c.dir + "/model.safetensors.index.json");
  index["weight_map"]["model.embed_tokens.weight"] = "model-00002-of-00002.safetensors";
  write_json_file_atomic(c.dir + "/model.safetensors.index.json", index);
  Checkpoint ckpt(c.dir);
  test::expect_error([&] { ckpt.load("model.embed_tokens.weight", at::kFloat); },
                     {"model.safetensors.index.json", "model.embed_tokens.weight", "model-00002-of-00002.safetensors"});
}

TEST(CheckpointErrors, BadDirectoriesAndIndexes) {
  const std::string empty = test::scratch_dir("ckpt_empty");
  test::expect_error([&] { Checkpoint ckpt(empty); }, {empty, "config.json"});
  write_file_atomic(empty + "/config.json", kConfig);
  test::expect_error([&] { Checkpoint ckpt(empty); }, {empty, "model.safetensors"});
  write_file_atomic(empty + "/model.safetensors.index.json", R"({"weight_map": {"a": "../x.safetensors"}})");
  test::expect_error([&] { Checkpoint ckpt(empty); }, {"model.safetensors.index.json", "'a'", "../x.safetensors"});
  write_file_atomic(empty + "/model.safetensors.index.json", R"({"metadata": {}})");
  test::expect_error([&] { Checkpoint ckpt(empty); }, {"model.safetensors.index.json", "weight_map"});
  write_file_atomic(empty + "/model.safetensors.index.json", R"({"weight_map": )");
  test::expect_error([&] { Checkpoint ckpt(empty); }, {"model.safetensors.index.json", "JSON"});
  write_file_atomic(empty + "/config.json", R"({"model_type": "gpt2"})");
  test::expect_error([&] { Checkpoint ckpt(empty); }, {empty + "/config.json", "model_type"});
}

TEST(CheckpointErrors, Fp8ScaleOfTheWrongShape) {
  TwoShardCheckpoint c = make_two_shards("ckpt_bad_scale");
  write_safetensors(c.dir + "/model-00002-of-00002.safetensors",
                    {{"model.layers.0.input_layernorm.weight", c.norm},
                     {"model.layers.0.mlp.up_proj.weight_scale_inv", at::ones({1, 1})}});
  Checkpoint ckpt(c.dir);
  test::expect_error([&] { ckpt.load("model.layers.0.mlp.up_proj.weight", at::kFloat); },
                     {c.dir, "model.layers.0.mlp.up_proj.weight", "weight_scale_inv", "[2, 1]"});
}

}  // namespace
}  // namespace fq::io
