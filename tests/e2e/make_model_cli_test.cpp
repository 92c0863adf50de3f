// `flatquant make-model` end to end: the binary writes a checkpoint Checkpoint can load, honours its
// options, and refuses bad ones with the documented exit codes.
#include <cstdio>
#include <filesystem>

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "lib/core/json.h"
#include "lib/io/checkpoint.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

struct RunResult {
  int exit_code;
  std::string output;
};

RunResult run_flatquant(const std::string& args) {
  const std::string command = test::flatquant_binary() + " " + args + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) output.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

TEST(MakeModelCli, WritesALoadableFp8DeepseekCheckpointWithATrainedTokenizer) {
  const std::string dir = test::scratch_dir("make_model_cli");
  write_file_atomic(dir + "/corpus.txt", "the cat sat on the mat\nthe cat ate the rat\nthe end\n");
  const RunResult r = run_flatquant(
      "make-model --family deepseek_v3 --dtype fp8 --layers 2 --shard-mb 2 --seed 9 "
      "--tokenizer-corpus " +
      dir + "/corpus.txt --vocab 300 --out " + dir + "/model");
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_NE(r.output.find("layer written"), std::string::npos) << "progress lines: " << r.output;
  io::Checkpoint ckpt(dir + "/model");
  EXPECT_EQ(ckpt.config().num_hidden_layers, 2);
  EXPECT_EQ(ckpt.config().fp8_block_rows, 128);
  EXPECT_EQ(ckpt.info("model.layers.1.mlp.experts.3.up_proj.weight").dtype, io::StDtype::kF8E4M3);
  EXPECT_EQ(ckpt.info("model.layers.1.mlp.experts.3.up_proj.weight_scale_inv").dtype, io::StDtype::kF32);
  EXPECT_EQ(ckpt.config().bos_token_id, 0);
  const Json tokenizer = read_json_file(dir + "/model/tokenizer.json");
  EXPECT_GT(tokenizer["model"]["merges"].size(), 5u);
  EXPECT_LE(tokenizer["model"]["vocab"].size(), 300u);
  for (const char* f : {"generation_config.json", "tokenizer_config.json", "model.safetensors.index.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/model/" + f)) << f;
  }
}

TEST(MakeModelCli, CopiesAGivenTokenizer) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("make_model_cli_tok");
  const std::string given = test::shared_path("models/tokenizer/tokenizer.json");
  const RunResult r = run_flatquant("make-model --layers 1 --tokenizer " + given + " --out " + dir + "/model");
  ASSERT_EQ(r.exit_code, kExitOk) << r.output;
  EXPECT_EQ(read_file(dir + "/model/tokenizer.json"), read_file(given));
  EXPECT_EQ(io::Checkpoint(dir + "/model").config().eos_token_ids, std::vector<int64_t>{1});
}

TEST(MakeModelCli, RefusesBadOptions) {
  const std::string dir = test::scratch_dir("make_model_cli_bad");
  EXPECT_EQ(run_flatquant("make-model --out " + dir + "/m --no-such-flag").exit_code, kExitUsage);
  RunResult r = run_flatquant("make-model --dtype fp16 --out " + dir + "/m");
  EXPECT_EQ(r.exit_code, kExitFailure);
  EXPECT_NE(r.output.find("--dtype"), std::string::npos) << r.output;
  r = run_flatquant("make-model --layers 9 --out " + dir + "/m");
  EXPECT_EQ(r.exit_code, kExitFailure);
  EXPECT_NE(r.output.find("--layers"), std::string::npos) << r.output;
  std::filesystem::create_directories(dir + "/full");
  write_file_atomic(dir + "/full/x", "x");
  r = run_flatquant("make-model --out " + dir + "/full");
  EXPECT_EQ(r.exit_code, kExitFailure);
  EXPECT_NE(r.output.find("not empty"), std::string::npos) << r.output;
  r = run_flatquant("make-model --tokenizer " + dir + "/missing.json --out " + dir + "/m2");
  EXPECT_EQ(r.exit_code, kExitFailure);
  EXPECT_NE(r.output.find(dir + "/missing.json"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir + "/m2/model.safetensors.index.json"));
}

}  // namespace
}  // namespace fq
