// `flatquant eval` pipelined over several ranks (mpirun) on the tiny reference models: 2 and 3 ranks give
// the perplexity of one rank bit for bit (each micro-batch goes through the same layer calls in the same
// order, on the CPU with one thread per rank), with RTN, with calibrated FlatQuant transforms, and for the
// multiple-choice tasks (with and without the few-shot prefix reuse); more ranks than layers is a clear error, and a rank that fails alone ends the job
// instead of leaving the others waiting.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "flatquant_build_info.h"
#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "lib/core/json.h"
#include "lib/io/safetensors.h"
#include "tests/mpi/mpirun_command.h"
#include "tests/support/child_process.h"
#include "tests/support/choice_dataset.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

using test::mpirun;

// Generous: a run takes seconds; this only catches hangs.
constexpr double kRunTimeoutSeconds = 300;
// From one rank's error to mpirun's exit (cluster/README.md measures ~1 s; room for a loaded machine).
constexpr double kFailFastBoundSeconds = 60;
// The head of kjv.test.txt evaluated: ~20 windows of 64 tokens, ~10 micro-batches of 2 (seconds per run).
constexpr size_t kTextBytes = 5000;
constexpr int64_t kSeqlen = 64;

const std::vector<std::pair<std::string, std::string>> kOneThread{{"OMP_NUM_THREADS", "1"}};

std::string truncated_text(const std::string& dir) {
  const std::string path = dir + "/kjv_head.txt";
  write_file_atomic(path, read_file(test::shared_path("data/kjv/kjv.test.txt")).substr(0, kTextBytes));
  return path;
}

// Runs `flatquant eval <args> --report DIR/NAME.json` on `ranks` ranks; the report (null on failure).
Json evaluate(int ranks, const std::string& dir, const std::string& name, const std::vector<std::string>& args) {
  std::vector<std::string> command{test::flatquant_binary(), "eval", "--report", dir + "/" + name + ".json"};
  command.insert(command.end(), args.begin(), args.end());
  const test::ChildExit e = test::run_child(mpirun(ranks, command), dir + "/" + name + ".log", kRunTimeoutSeconds,
                                            kOneThread);
  EXPECT_EQ(e.code, kExitOk) << read_file(dir + "/" + name + ".log");
  std::printf("[ measure  ] %s on %d rank%s: %.2f s\n", name.c_str(), ranks, ranks > 1 ? "s" : "", e.seconds);
  return e.code == kExitOk ? read_json_file(dir + "/" + name + ".json") : Json();
}

// 1, 2 and 3 ranks: the same per-window NLLs, bit for bit (JSON keeps a double's every bit).
void expect_same_perplexity_on_any_rank_count(const std::string& dir, const std::string& name,
                                              const std::vector<std::string>& args) {
  const Json one = evaluate(1, dir, name + "_np1", args);
  ASSERT_FALSE(one.is_null());
  ASSERT_GE(one["result"]["windows"].get<int64_t>(), 8);
  EXPECT_EQ(one["ranks"], 1);
  for (int ranks : {2, 3}) {
    const Json many = evaluate(ranks, dir, name + "_np" + std::to_string(ranks), args);
    ASSERT_FALSE(many.is_null());
    EXPECT_EQ(many["ranks"], ranks);
    EXPECT_EQ(many["result"]["window_nll"], one["result"]["window_nll"]) << name << ", " << ranks << " ranks";
    EXPECT_EQ(many["perplexity"], one["perplexity"]) << name << ", " << ranks << " ranks";
    EXPECT_EQ(many["weight_memory"], one["weight_memory"]) << "every layer counted once";
    const std::string log = read_file(dir + "/" + name + "_np" + std::to_string(ranks) + ".log");
    // Rank 0 prints the plan and the progress; every rank says which layers it holds.
    EXPECT_NE(log.find("pipeline plan"), std::string::npos) << log;
    const std::string batches = std::to_string((one["result"]["windows"].get<int64_t>() + 1) / 2);
    EXPECT_NE(log.find("done=" + batches + "/" + batches), std::string::npos) << log;
    EXPECT_NE(log.find("[r0" + std::to_string(ranks - 1) + "/0" + std::to_string(ranks)), std::string::npos) << log;
  }
}

TEST(MpiEval, RtnPerplexityOfTwoAndThreeRanksIsThatOfOneRank) {
  FQ_REQUIRE_SHARED();
  for (const std::string model : {"tiny-llama3", "tiny-deepseek-v3"}) {
    const std::string dir = test::scratch_dir("mpi_eval_" + model);
    expect_same_perplexity_on_any_rank_count(
        dir, "rtn",
        {"--model", test::shared_path("models/" + model), "--method", "rtn", "--backend", "fake", "--text",
         truncated_text(dir), "--seqlen", std::to_string(kSeqlen), "--batch", "2"});
  }
}

TEST(MpiEval, CalibratedFlatQuantPerplexityOfTwoAndThreeRanksIsThatOfOneRank) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("mpi_eval_flatquant");
  // A calibration cut short (4 windows of 32 tokens, one epoch): real learned transforms in a few seconds.
  const test::ChildExit c = test::run_child(
      {test::flatquant_binary(), "calibrate", "--config", std::string(FLATQUANT_SOURCE_DIR) + "/configs/tiny-deepseek-v3.yaml",
       "--set", "data.nsamples=4", "--set", "data.seqlen=32", "--set", "flatquant.epochs=1", "--out", dir + "/run"},
      dir + "/calibrate.log", kRunTimeoutSeconds, kOneThread);
  ASSERT_EQ(c.code, kExitOk) << read_file(dir + "/calibrate.log");
  expect_same_perplexity_on_any_rank_count(dir, "flatquant",
                                           {"--run", dir + "/run", "--text", truncated_text(dir), "--seqlen",
                                            std::to_string(kSeqlen), "--batch", "2"});
}

// The subjects' results without the timing.
Json without_seconds(Json report) {
  report["result"].erase("seconds");
  return report["result"];
}

// Prefix reuse on (the default; with loglik also each question once for its options): 1, 2 and 3 ranks give
// the same results and per-question scores, bit for bit (the pipeline runs each micro-batch's prefix and
// stem through the same layer calls as the walk does); off, 1 and 3
// ranks likewise, and the two agree within the prefix-reuse bounds of test::expect_choice_scores_agree.
TEST(MpiEval, ChoiceTasksOnSeveralRanksScoreLikeOneRank) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("mpi_eval_choice");
  const std::vector<test::ChoiceItem> items =
      test::make_choice_items(read_file(test::shared_path("data/kjv/kjv.valid.txt")), 7);
  test::write_choice_dataset(dir + "/mmlu", false, items, 3, 4);
  test::write_choice_dataset(dir + "/ceval", true, items, 2, 5);
  const std::vector<std::string> model{"--model", test::shared_path("models/tiny-llama3"), "--seqlen", "1024",
                                       "--batch", "3", "--method", "rtn", "--shots", "3"};
  for (const auto& [task, scoring] : {std::pair<std::string, std::string>{"mmlu", "loglik"}, {"ceval", "letter"}}) {
    std::vector<std::string> args = model;
    args.insert(args.end(), {"--task", task, "--data", dir + "/" + task, "--scoring", scoring, "--reuse-prefix"});
    Json reuse[4], whole[4];  // by rank count
    for (int ranks : {1, 2, 3}) {
      std::vector<std::string> on = args;
      on.push_back("true");
      const std::string name = task + "_np" + std::to_string(ranks);
      reuse[ranks] = evaluate(ranks, dir, name, on);
      ASSERT_FALSE(reuse[ranks].is_null());
      // The small subjects share one walk (--walk-sequences), every prompt of a subject after the subject's
      // shared prefix; with loglik each of a subject's 4 questions once for its four options (a stem each).
      const std::string log = read_file(dir + "/" + name + ".log");
      const int subjects = task == "mmlu" ? 3 : 2;
      EXPECT_NE(log.find("walk sequences=" + std::to_string(task == "mmlu" ? 48 : 10) + " prefixes=" +
                         std::to_string(subjects) + " stems=" + std::to_string(scoring == "loglik" ? 4 * subjects : 0) +
                         " "),
                std::string::npos)
          << log;
      if (ranks > 1) EXPECT_EQ(without_seconds(reuse[ranks]), without_seconds(reuse[1])) << task << ", " << ranks << " ranks";
    }
    EXPECT_EQ(reuse[1]["result"]["questions"], task == "mmlu" ? 12 : 10);
    for (int ranks : {1, 3}) {
      std::vector<std::string> off = args;
      off.push_back("false");
      whole[ranks] = evaluate(ranks, dir, task + "_whole_np" + std::to_string(ranks), off);
      ASSERT_FALSE(whole[ranks].is_null());
    }
    EXPECT_EQ(without_seconds(whole[3]), without_seconds(whole[1])) << task << " without prefix reuse";
    const test::ChoiceScoreAgreement a =
        test::expect_choice_scores_agree(whole[1]["result"], reuse[3]["result"], task + " 3 ranks reuse vs whole");
    std::printf("[ measure  ] %s %s: prefix reuse (1/2/3 ranks) vs whole prompts: max |score difference| %.2e (%d of "
                "%d within %.0e); 1 rank %.2f s whole, %.2f s reuse; 3 ranks %.2f s whole, %.2f s reuse\n",
                task.c_str(), scoring.c_str(), a.worst, a.within_float_order, a.scores, test::kFloatOrderScoreTol,
                whole[1]["result"]["seconds"].get<double>(), reuse[1]["result"]["seconds"].get<double>(),
                whole[3]["result"]["seconds"].get<double>(), reuse[3]["result"]["seconds"].get<double>());
  }
  // A 2-rank run resumes the state a 1-rank run left: rank 0 reads it and every rank skips the subject.
  std::vector<std::string> args = model;
  args.insert(args.end(), {"--task", "mmlu", "--data", dir + "/mmlu", "--scoring", "loglik", "--reuse-prefix", "true"});
  Json state = read_json_file(dir + "/mmlu_np1.json.state.json");
  for (const std::string subject : {"high_school_world_history", "virology"}) state["subjects"].erase(subject);
  write_json_file_atomic(dir + "/resumed.json.state.json", state);
  const Json resumed = evaluate(2, dir, "resumed", args);
  ASSERT_FALSE(resumed.is_null());
  EXPECT_NE(read_file(dir + "/resumed.log").find("subject already evaluated"), std::string::npos);
  EXPECT_EQ(without_seconds(resumed), without_seconds(read_json_file(dir + "/mmlu_np1.json")));
}

TEST(MpiEval, MoreRanksThanLayersIsAClearError) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("mpi_eval_too_many_ranks");
  const test::ChildExit e = test::run_child(
      mpirun(5, {test::flatquant_binary(), "eval", "--model", test::shared_path("models/tiny-llama3"), "--text",
                 truncated_text(dir), "--seqlen", std::to_string(kSeqlen)}),
      dir + "/run.log", kRunTimeoutSeconds, kOneThread);
  EXPECT_NE(e.code, kExitOk);
  EXPECT_FALSE(e.timed_out);
  EXPECT_NE(read_file(dir + "/run.log").find("evaluation on 5 ranks: the model has 4 decoder layers"),
            std::string::npos)
      << read_file(dir + "/run.log");
}

// A copy of tiny-llama3 without lm_head.weight: only the last stage loads the head, so only it fails,
// while rank 0 is about to hand it the first micro-batch.
std::string model_without_head(const std::string& dir) {
  const std::string source = test::shared_path("models/tiny-llama3"), copy = dir + "/headless";
  std::filesystem::create_directories(copy);
  for (const char* file : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"}) {
    std::filesystem::copy_file(source + "/" + file, copy + "/" + file);
  }
  const io::SafetensorsFile weights(source + "/model.safetensors");
  std::vector<io::NamedTensor> kept;
  for (const std::string& name : weights.names()) {
    if (name != "lm_head.weight") kept.push_back({name, weights.read(name)});
  }
  io::write_safetensors(copy + "/model.safetensors", kept);
  return copy;
}

TEST(MpiEval, OneFailingRankEndsTheJobInsteadOfHangingIt) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("mpi_eval_rank_fails");
  const test::ChildExit e = test::run_child(
      mpirun(2, {test::flatquant_binary(), "eval", "--model", model_without_head(dir), "--text", truncated_text(dir),
                 "--seqlen", std::to_string(kSeqlen)}),
      dir + "/run.log", kFailFastBoundSeconds, kOneThread);
  std::printf("[ measure  ] rank 1 of 2 fails loading the head -> mpirun exit %d after %.2f s\n", e.code, e.seconds);
  EXPECT_FALSE(e.timed_out) << read_file(dir + "/run.log");
  EXPECT_NE(e.code, kExitOk);
  EXPECT_NE(read_file(dir + "/run.log").find("lm_head.weight"), std::string::npos) << read_file(dir + "/run.log");
}

}  // namespace
}  // namespace fq
