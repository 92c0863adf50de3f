#include "pipelines/config/run_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/core/error.h"
#include "tests/support/shared_dir.h"

namespace fq::pipelines {
namespace {

std::string write_yaml(const std::string& name, const std::string& text) {
  const std::string dir = test::scratch_dir("run_config_" + name);
  const std::string path = dir + "/config.yaml";
  std::ofstream(path) << text;
  return path;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(RunConfig, DefaultsAreThePaperSettings) {
  RunConfig c = load_run_config("", {});
  EXPECT_EQ(c.quant.w_bits, 4);
  EXPECT_EQ(c.quant.a_bits, 4);
  EXPECT_EQ(c.flatquant.epochs, 15);
  EXPECT_DOUBLE_EQ(c.flatquant.lr, 5e-3);
  EXPECT_DOUBLE_EQ(c.flatquant.diag_alpha, 0.3);
  EXPECT_EQ(c.data.nsamples, 128);
  EXPECT_TRUE(c.flatquant.lwc && c.flatquant.lac && c.flatquant.diag_scale);
}

TEST(RunConfig, YamlAndOverridesApply) {
  const std::string path = write_yaml("apply", "model: models/x\nflatquant:\n  epochs: 3\n  lr: 1e-3\n"
                                               "quant:\n  k_bits: 4\nflatquant.skip_layers: [1, 2]\n");
  RunConfig c = load_run_config(path, {"flatquant.epochs=5", "moe.routed_down_transform=per_expert"});
  EXPECT_EQ(c.flatquant.epochs, 5);  // override wins
  EXPECT_DOUBLE_EQ(c.flatquant.lr, 1e-3);
  EXPECT_EQ(c.quant.k_bits, 4);
  EXPECT_EQ(c.flatquant.skip_layers, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c.moe.routed_down_transform, "per_expert");
  // Relative paths in a file resolve against the file's directory.
  EXPECT_EQ(c.model, (std::filesystem::path(path).parent_path() / "models/x").string());
}

TEST(RunConfig, ErrorsNameTheKeyAndTheSource) {
  const std::string path = write_yaml("errors", "flatquant:\n  epoch: 3\n");
  std::string e = error_of([&] { load_run_config(path, {}); });
  EXPECT_NE(e.find("flatquant.epoch"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'flatquant.epochs'"), std::string::npos) << e;
  EXPECT_NE(e.find(path), std::string::npos) << e;

  e = error_of([&] { load_run_config("", {"flatquant.epochs=three"}); });
  EXPECT_NE(e.find("flatquant.epochs"), std::string::npos) << e;
  EXPECT_NE(e.find("integer"), std::string::npos) << e;

  e = error_of([&] { load_run_config("", {"quant.w_bits=12"}); });
  EXPECT_NE(e.find("quant.w_bits"), std::string::npos) << e;

  e = error_of([&] { load_run_config("", {"flatquant.diag_init=magic"}); });
  EXPECT_NE(e.find("sq_style"), std::string::npos) << e;

  e = error_of([&] { load_run_config("", {"data.nsamples=2", "flatquant.batch_size=4"}); });
  EXPECT_NE(e.find("flatquant.batch_size"), std::string::npos) << e;

  e = error_of([&] { load_run_config("", {"flatquant.lr"}); });
  EXPECT_NE(e.find("key=value"), std::string::npos) << e;

  e = error_of([&] { load_run_config(write_yaml("bad", "model: [unclosed\n"), {}); });
  EXPECT_NE(e.find("not valid YAML"), std::string::npos) << e;
}

TEST(RunConfig, EffectiveConfigRoundTripsAndHashesCalibrationKeysOnly) {
  RunConfig c = load_run_config("", {"flatquant.epochs=7", "flatquant.skip_layers=[0,3]", "eval.seqlen=256"});
  const std::string yaml = run_config_yaml(c);
  RunConfig back = load_run_config(write_yaml("roundtrip", yaml), {});
  EXPECT_EQ(run_config_yaml(back), yaml);
  RunConfig other_eval = load_run_config("", {"flatquant.epochs=7", "flatquant.skip_layers=[0,3]"});
  EXPECT_EQ(calibration_hash(c), calibration_hash(other_eval));
  RunConfig other_lr = load_run_config("", {"flatquant.epochs=7", "flatquant.skip_layers=[0,3]", "flatquant.lr=0.01"});
  EXPECT_NE(calibration_hash(c), calibration_hash(other_lr));
}

TEST(RunConfig, SkippedLayersByIndexAndFromTheEnd) {
  RunConfig c = load_run_config("", {"flatquant.skip_layers=[1]", "flatquant.skip_last=2"});
  std::vector<int64_t> skipped;
  for (int64_t i = 0; i < 6; ++i) {
    if (c.layer_skipped(i, 6)) skipped.push_back(i);
  }
  EXPECT_EQ(skipped, (std::vector<int64_t>{1, 4, 5}));
}

TEST(RunConfig, HelpListsEveryKeyWithItsDefault) {
  const std::string help = run_config_help();
  for (const char* key : {"flatquant.epochs", "quant.w_bits", "moe.routed_down_transform", "slurm.nodes", "data.seqlen"}) {
    EXPECT_NE(help.find(key), std::string::npos) << key;
  }
  EXPECT_NE(help.find("(default: 15)"), std::string::npos);
}

}  // namespace
}  // namespace fq::pipelines
