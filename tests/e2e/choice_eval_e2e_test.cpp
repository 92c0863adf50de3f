// MMLU and C-Eval through `flatquant eval --task mmlu|ceval` on the tiny LLaMA-3 reference model, on small
// sets in the released layouts written from held-out kjv text (tests/support/choice_dataset.h).
// Log-likelihood scoring: full precision must score far above chance (25%), round-to-nearest W4A4 must lose
// most of that, and an interrupted evaluation resumes from its finished subjects. Prefix reuse gives the
// per-question scores of whole prompts on tiny-llama3 and tiny-deepseek-v3.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "flatquant_build_info.h"
#include "lib/core/atomic_file.h"
#include "lib/core/exit_codes.h"
#include "lib/core/json.h"
#include "tests/support/child_process.h"
#include "tests/support/choice_dataset.h"
#include "tests/support/shared_dir.h"

namespace fq {
namespace {

const std::vector<std::pair<std::string, std::string>> kOneThread{{"OMP_NUM_THREADS", "1"}};

Json evaluate(const std::string& dir, const std::vector<std::string>& extra, const std::string& name,
              const std::string& model = "models/tiny-llama3") {
  std::vector<std::string> args{test::flatquant_binary(), "eval", "--model", test::shared_path(model),
                                "--seqlen", "1024", "--batch", "16", "--report", dir + "/" + name + ".json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const test::ChildExit e = test::run_child(args, dir + "/" + name + ".log", 900, kOneThread);
  EXPECT_EQ(e.code, kExitOk) << read_file(dir + "/" + name + ".log");
  return e.code == kExitOk ? read_json_file(dir + "/" + name + ".json")["result"] : Json();
}

TEST(ChoiceEvalE2E, LoglikAccuracyFarAboveChanceAndRtnLosesIt) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("choice_e2e");
  const std::vector<test::ChoiceItem> items = test::make_choice_items(read_file(test::shared_path("data/kjv/kjv.valid.txt")), 7);
  ASSERT_GE(items.size(), 3u * (5 + 24));
  test::write_choice_dataset(dir + "/mmlu", false, items, 3, 24);
  const std::vector<std::string> task{"--task", "mmlu", "--data", dir + "/mmlu", "--scoring", "loglik", "--shots", "2"};
  std::vector<std::string> fp_args = task, rtn_args = task;
  fp_args.insert(fp_args.end(), {"--method", "fp"});
  rtn_args.insert(rtn_args.end(), {"--method", "rtn"});
  // FlatQuant transforms from a shortened calibration (16 windows of 128 tokens, 2 epochs).
  const std::string run = dir + "/run";
  const test::ChildExit calibrated = test::run_child(
      {test::flatquant_binary(), "calibrate", "--config", std::string(FLATQUANT_SOURCE_DIR) + "/configs/tiny-llama3.yaml",
       "--set", "data.nsamples=16", "--set", "data.seqlen=128", "--set", "flatquant.epochs=2", "--out", run},
      dir + "/calibrate.log", 1200, kOneThread);
  ASSERT_EQ(calibrated.code, kExitOk) << read_file(dir + "/calibrate.log");
  std::vector<std::string> fq_args = task;
  fq_args.insert(fq_args.end(), {"--method", "flatquant", "--transforms", run + "/transforms.h5"});
  const Json fp = evaluate(dir, fp_args, "fp"), rtn = evaluate(dir, rtn_args, "rtn"), fq = evaluate(dir, fq_args, "fq");
  ASSERT_FALSE(fp.is_null() || rtn.is_null() || fq.is_null());
  std::printf("[e2e] kjv multiple choice (72 questions, loglik, 2-shot): fp %.1f%%, rtn w4a4 %.1f%%, flatquant w4a4 %.1f%%\n",
              100 * fp["micro_accuracy"].get<double>(), 100 * rtn["micro_accuracy"].get<double>(),
              100 * fq["micro_accuracy"].get<double>());
  EXPECT_GT(fq["micro_accuracy"].get<double>(), fp["micro_accuracy"].get<double>() - 0.1);
  EXPECT_EQ(fp["questions"], 72);
  EXPECT_EQ(fp["split"], "test");  // MMLU's default
  EXPECT_EQ(fp["subjects"].size(), 3u);
  EXPECT_EQ(fp["subjects"]["college_physics"]["category"], "STEM");
  EXPECT_EQ(fp["subjects"]["virology"]["category"], "other");
  // The model has read this kind of text: far above chance. RTN W4A4 (perplexity ~80x) must lose most of it.
  EXPECT_GT(fp["micro_accuracy"].get<double>(), 0.6);
  EXPECT_LT(rtn["micro_accuracy"].get<double>(), fp["micro_accuracy"].get<double>() - 0.15);
  // Macro over subjects equals the mean of the subjects' accuracies.
  double macro = 0;
  for (const auto& [name, s] : fp["subjects"].items()) macro += s["accuracy"].get<double>() / 3;
  EXPECT_NEAR(fp["macro_accuracy"].get<double>(), macro, 1e-12);

  // Resume: a state file with one subject finished makes the re-run skip it and report the same result.
  const Json state = read_json_file(dir + "/fp.json.state.json");
  Json partial = state;
  partial["subjects"] = Json::object();
  partial["subjects"]["college_physics"] = state["subjects"]["college_physics"];
  write_json_file_atomic(dir + "/resume.json.state.json", partial);
  const Json resumed = evaluate(dir, fp_args, "resume");
  EXPECT_NE(read_file(dir + "/resume.log").find("subject already evaluated"), std::string::npos);
  EXPECT_EQ(resumed["micro_accuracy"], fp["micro_accuracy"]);
}

TEST(ChoiceEvalE2E, CevalLayoutAndLetterScoringMechanics) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("choice_e2e_ceval");
  const std::vector<test::ChoiceItem> items = test::make_choice_items(read_file(test::shared_path("data/kjv/kjv.valid.txt")), 11);
  test::write_choice_dataset(dir + "/ceval", true, items, 2, 8);
  const Json r = evaluate(dir, {"--task", "ceval", "--data", dir + "/ceval", "--method", "fp"}, "ceval");
  ASSERT_FALSE(r.is_null());
  EXPECT_EQ(r["questions"], 16);
  EXPECT_EQ(r["scoring"], "letter");
  EXPECT_EQ(r["split"], "val");  // C-Eval's default: its test labels are withheld
  EXPECT_EQ(r["subjects"]["college_physics"]["category"], "STEM");
  // The same report with --subjects: the finished subject comes from the state file, and the report holds only
  // the subjects asked for, though the state file holds both.
  const Json one = evaluate(dir, {"--task", "ceval", "--data", dir + "/ceval", "--method", "fp", "--subjects",
                                  "college_physics"}, "ceval");
  ASSERT_FALSE(one.is_null());
  EXPECT_NE(read_file(dir + "/ceval.log").find("subject already evaluated"), std::string::npos);
  EXPECT_EQ(one["questions"], 8);
  EXPECT_EQ(one["subjects"].size(), 1u);
  EXPECT_EQ(one["micro_accuracy"], r["subjects"]["college_physics"]["accuracy"]);
  EXPECT_EQ(read_json_file(dir + "/ceval.json.state.json")["subjects"].size(), 2u);
  // A malformed row is an error naming the file and the line.
  std::ofstream(dir + "/ceval/val/college_physics_val.csv", std::ios::app) << "99,question,a,b,c,d,E\n";
  const test::ChildExit bad = test::run_child(
      {test::flatquant_binary(), "eval", "--model", test::shared_path("models/tiny-llama3"), "--method", "fp", "--task",
       "ceval", "--data", dir + "/ceval"},
      dir + "/bad.log", 300, kOneThread);
  EXPECT_EQ(bad.code, kExitFailure);
  EXPECT_NE(read_file(dir + "/bad.log").find("college_physics_val.csv line 10"), std::string::npos)
      << read_file(dir + "/bad.log");
}

// SIGTERM (preemption; Slurm's pre-timeout USR1 takes the same path) between subjects: the run keeps the
// finished subjects in REPORT.state.json and exits 75; the same command evaluates only the rest.
TEST(ChoiceEvalE2E, StopSignalKeepsFinishedSubjectsAndExitsForResume) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("choice_e2e_stop");
  const std::vector<test::ChoiceItem> items = test::make_choice_items(read_file(test::shared_path("data/kjv/kjv.valid.txt")), 17);
  test::write_choice_dataset(dir + "/ceval", true, items, 3, 16);  // ~1.4 s a subject: time to signal
  const std::string report = dir + "/ceval.json";
  // One subject (16 prompts) per call, so that a call ends, and saves, between subjects.
  const std::vector<std::string> args{test::flatquant_binary(), "eval", "--model", test::shared_path("models/tiny-llama3"),
                                      "--method", "fp", "--task", "ceval", "--data", dir + "/ceval", "--report", report,
                                      "--walk-sequences", "16"};
  {
    test::ChildProcess run(args, dir + "/stopped.log", kOneThread);
    while (!std::filesystem::exists(report + ".state.json") && run.running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    run.signal(SIGTERM);
    EXPECT_EQ(run.wait(300).code, kExitResume) << run.output();
  }
  const Json state = read_json_file(report + ".state.json");
  EXPECT_GE(state["subjects"].size(), 1u);
  EXPECT_LT(state["subjects"].size(), 3u) << "the stop must come before the last subject";
  EXPECT_FALSE(std::filesystem::exists(report)) << "a stopped run writes no report";
  ASSERT_EQ(test::run_child(args, dir + "/resumed.log", 300, kOneThread).code, kExitOk) << read_file(dir + "/resumed.log");
  EXPECT_NE(read_file(dir + "/resumed.log").find("subject already evaluated"), std::string::npos);
  EXPECT_EQ(read_json_file(report)["result"]["questions"], 48);
}

// What a run's `walk` log lines add up to: walks (passes through the layers), stems computed (each once) and
// token positions computed.
struct WalkTotals {
  int64_t walks = 0;
  int64_t stems = 0;
  int64_t tokens = 0;
};
WalkTotals walk_totals(const std::string& log) {
  WalkTotals t;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("] walk ") == std::string::npos) continue;
    ++t.walks;
    auto value = [&](const std::string& key) {
      const size_t at = line.find(" " + key + "=");
      return at == std::string::npos ? int64_t{0} : std::stoll(line.substr(at + key.size() + 2));
    };
    t.stems += value("stems");
    t.tokens += value("tokens");
  }
  return t;
}

// Prefix reuse (--reuse-prefix, the default) against every prompt computed whole, 5-shot, round-to-nearest
// W4A4 hooks active, within the bounds of test::expect_choice_scores_agree (choice_dataset.h). With loglik
// scoring the reuse computes each question once for its four options: one stem per question, counted by
// the walks' log lines, and far fewer token positions than the options' sequences after the prefix alone. Not 4-bit K/V
// caches on tiny-llama3 (covered per layer in frozen_layer_prefix_test.cpp): that model is then so degraded
// that float summation order alone moves its scores by nats, whole prompts included (evaluating 3 instead of
// 8 questions of a subject, i.e. another padding length, moved one score by 5.7).
TEST(ChoiceEvalE2E, PrefixReuseScoresEqualWholePrompts) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("choice_e2e_prefix");
  const std::vector<test::ChoiceItem> items =
      test::make_choice_items(read_file(test::shared_path("data/kjv/kjv.valid.txt")), 13);
  constexpr int kQuestions = 4;
  test::write_choice_dataset(dir + "/mmlu", false, items, 2, kQuestions);
  for (const std::string model : {"tiny-llama3", "tiny-deepseek-v3"}) {
    const std::vector<std::string> task{"--task",  "mmlu", "--data",   dir + "/mmlu", "--scoring",     "loglik",
                                        "--shots", "5",    "--method", "rtn",         "--reuse-prefix"};
    std::vector<std::string> whole_args = task, reuse_args = task;
    whole_args.push_back("false");
    reuse_args.push_back("true");
    const Json whole = evaluate(dir, whole_args, model + "_whole", "models/" + model);
    const Json reuse = evaluate(dir, reuse_args, model + "_reuse", "models/" + model);
    ASSERT_FALSE(whole.is_null() || reuse.is_null()) << model;
    const WalkTotals reused = walk_totals(read_file(dir + "/" + model + "_reuse.log"));
    const WalkTotals computed_whole = walk_totals(read_file(dir + "/" + model + "_whole.log"));
    EXPECT_EQ(reused.stems, 2 * kQuestions) << model << ": each question computed once";
    EXPECT_EQ(computed_whole.stems, 0) << model;
    // Whole prompts take 13,408 token positions on this set; the prefix reused alone 3,013 (each question in
    // its four rows), the question once too 1,412: a sixth fails unless each question is computed once.
    EXPECT_LT(6 * reused.tokens, computed_whole.tokens) << model;
    const test::ChoiceScoreAgreement a = test::expect_choice_scores_agree(whole, reuse, model, kQuestions);
    std::printf("[e2e] %s 5-shot loglik rtn w4a4, %d questions: whole %.1fs (%lld tokens), prefix and question "
                "reuse %.1fs (%lld tokens), max |score difference| %.2e (%d of %d within %.0e), accuracy %.1f%%\n",
                model.c_str(), 2 * kQuestions, whole["seconds"].get<double>(),
                static_cast<long long>(computed_whole.tokens), reuse["seconds"].get<double>(),
                static_cast<long long>(reused.tokens), a.worst, a.within_float_order, a.scores,
                test::kFloatOrderScoreTol, 100 * reuse["micro_accuracy"].get<double>());
  }
}

// Small subjects (C-Eval's val split has ~26 questions each) share one call of the model forward: one walk
// through the layers for all three instead of one each, with the scores of subjects evaluated alone.
TEST(ChoiceEvalE2E, SmallSubjectsShareAWalkAndScoreAsAlone) {
  FQ_REQUIRE_SHARED();
  const std::string dir = test::scratch_dir("choice_e2e_shared_walk");
  const std::vector<test::ChoiceItem> items =
      test::make_choice_items(read_file(test::shared_path("data/kjv/kjv.valid.txt")), 19);
  constexpr int kQuestions = 6;
  test::write_choice_dataset(dir + "/ceval", true, items, 3, kQuestions);
  const std::vector<std::string> task{"--task", "ceval", "--data", dir + "/ceval", "--method", "fp", "--scoring", "loglik"};
  std::vector<std::string> together = task, alone = task;
  alone.insert(alone.end(), {"--walk-sequences", std::to_string(4 * kQuestions)});  // one subject per call
  const Json shared = evaluate(dir, together, "together");
  const Json single = evaluate(dir, alone, "alone");
  ASSERT_FALSE(shared.is_null() || single.is_null());
  EXPECT_EQ(walk_totals(read_file(dir + "/together.log")).walks, 1);
  EXPECT_EQ(walk_totals(read_file(dir + "/alone.log")).walks, 3);
  EXPECT_EQ(shared["subjects"].size(), 3u);
  EXPECT_EQ(shared["questions"], 3 * kQuestions);
  test::expect_choice_scores_agree(single, shared, "one walk for three subjects", kQuestions);
  EXPECT_EQ(shared["micro_accuracy"], single["micro_accuracy"]);
  const test::ChildExit bad = test::run_child({test::flatquant_binary(), "eval", "--model",
                                               test::shared_path("models/tiny-llama3"), "--task", "ceval", "--data",
                                               dir + "/ceval", "--walk-sequences", "0"},
                                              dir + "/bad.log", 300, kOneThread);
  EXPECT_EQ(bad.code, kExitFailure);
  EXPECT_NE(read_file(dir + "/bad.log").find("--walk-sequences must be positive, got 0"), std::string::npos)
      << read_file(dir + "/bad.log");
}

}  // namespace
}  // namespace fq
