#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "pipelines/evaluate/choice_prompt.h"
#include "pipelines/evaluate/choice_task.h"
#include "pipelines/evaluate/csv_table.h"
#include "pipelines/evaluate/shared_prefix.h"
#include "tests/support/expect_error.h"
#include "tests/support/shared_dir.h"

namespace fq::pipelines {
namespace {

TEST(CsvTable, QuotedFieldsWithCommasNewlinesQuotesAndUtf8) {
  const std::string text = "plain,\"a, b\",\"say \"\"hi\"\"\",\"two\nlines\",中文\r\n\nnext,row\n";
  const std::vector<CsvRow> rows = parse_csv(text, "t.csv");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"plain", "a, b", "say \"hi\"", "two\nlines", "中文"}));
  EXPECT_EQ(rows[0].line, 1);
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"next", "row"}));
  EXPECT_EQ(rows[1].line, 4);
  try {
    parse_csv("ok\n\"never closed,x\n", "bad.csv");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.csv line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_csv("a\"b\n", "q.csv"), Error);
}

ChoiceSubject subject(ChoiceBenchmark b, const std::string& name, int dev) {
  ChoiceSubject s;
  s.name = name;
  describe_subject(b, s);
  for (int i = 0; i < dev; ++i) s.dev.push_back({"Q" + std::to_string(i), {"a", "b", "c", "d"}, i % 4});
  return s;
}

// The original evaluators' strings, byte for byte (REFERENCE-EVAL-CLUSTER.md sections 1-2).
TEST(ChoicePrompt, MmluAndCevalTemplates) {
  const ChoiceQuestion q{"What?", {"w", "x", "y", "z"}, 2};
  const ChoiceSubject mmlu = subject(ChoiceBenchmark::kMmlu, "abstract_algebra", 2);
  EXPECT_EQ(mmlu.category, "STEM");
  EXPECT_EQ(build_prompt(ChoiceBenchmark::kMmlu, mmlu, q, 0),
            "The following are multiple choice questions (with answers) about  abstract algebra.\n\n"
            "What?\nA. w\nB. x\nC. y\nD. z\nAnswer:");
  EXPECT_EQ(build_prompt(ChoiceBenchmark::kMmlu, mmlu, q, 5),  // only 2 dev questions exist
            "The following are multiple choice questions (with answers) about  abstract algebra.\n\n"
            "Q0\nA. a\nB. b\nC. c\nD. d\nAnswer: A\n\nQ1\nA. a\nB. b\nC. c\nD. d\nAnswer: B\n\n"
            "What?\nA. w\nB. x\nC. y\nD. z\nAnswer:");
  EXPECT_EQ(answer_continuation(ChoiceBenchmark::kMmlu, q, 1, ChoiceScoring::kLetter), " B");
  EXPECT_EQ(answer_continuation(ChoiceBenchmark::kMmlu, q, 3, ChoiceScoring::kLoglik), " z");

  const ChoiceSubject ceval = subject(ChoiceBenchmark::kCeval, "college_physics", 1);
  EXPECT_EQ(ceval.category, "STEM");
  EXPECT_EQ(build_prompt(ChoiceBenchmark::kCeval, ceval, q, 1),
            "以下是中国关于大学物理考试的单项选择题，请选出其中的正确答案。\n\n"
            "Q0\nA. a\nB. b\nC. c\nD. d\n答案：A\n\n"
            "What?\nA. w\nB. x\nC. y\nD. z\n答案：");
  EXPECT_EQ(answer_continuation(ChoiceBenchmark::kCeval, q, 0, ChoiceScoring::kLetter), "A");
  EXPECT_EQ(subject(ChoiceBenchmark::kCeval, "my_new_exam", 0).category, "Other");
  EXPECT_EQ(subject(ChoiceBenchmark::kMmlu, "my_new_exam", 0).display, "my new exam");
}

// The prefix a subject's prompts share is the prompt without its question, and a prompt uses it only where
// the prefix's own encoding is a token-prefix of the whole prompt's (else it is computed whole).
TEST(ChoicePrompt, FewShotPrefixIsATokenPrefixOfEachPrompt) {
  FQ_REQUIRE_SHARED();
  const io::Tokenizer tok = io::Tokenizer::from_model_dir(test::shared_path("models/tiny-llama3"));
  const ChoiceSubject s = subject(ChoiceBenchmark::kMmlu, "virology", 5);
  const ChoiceQuestion q{"What?", {"w", "x", "y", "z"}, 2};
  for (int shots : {0, 3, 5}) {
    EXPECT_EQ(few_shot_prefix(ChoiceBenchmark::kMmlu, s, shots) + format_question(ChoiceBenchmark::kMmlu, q, false),
              build_prompt(ChoiceBenchmark::kMmlu, s, q, shots));
  }
  FewShotPrefixes prefixes(tok, ChoiceBenchmark::kMmlu, s);
  const std::vector<int64_t> prompt = tok.encode(build_prompt(ChoiceBenchmark::kMmlu, s, q, 3), true);
  const std::vector<int64_t> prefix = tok.encode(few_shot_prefix(ChoiceBenchmark::kMmlu, s, 3), true);
  ASSERT_LT(prefix.size(), prompt.size());
  EXPECT_EQ(prefixes.shared_tokens(3, prompt), static_cast<int64_t>(prefix.size()));
  // The prefix of another shot count is no token-prefix of this prompt; a prompt that is only the prefix
  // has nothing of its own to run after it.
  EXPECT_EQ(prefixes.shared_tokens(4, prompt), 0);
  EXPECT_EQ(prefixes.shared_tokens(3, prefix), 0);
  // Tokens that differ at the boundary (as where a tokenizer merges across it): computed whole.
  std::vector<int64_t> merged = prompt;
  merged[prefix.size() - 1] += 1;
  EXPECT_EQ(prefixes.shared_tokens(3, merged), 0);
}

// A walk's sequences grouped by prefix into the batches of token rows that the walk or the pipeline runs:
// identical prefixes share a batch (in order of first appearance), the rest is right-padded with zeros, and
// every row maps back to its sequence.
TEST(SharedPrefix, GroupByPrefixBatchesPadsAndMapsRowsBack) {
  const std::vector<std::vector<int64_t>> ids = {{1, 2, 3, 10, 11}, {7, 8}, {1, 2, 3, 12}, {4, 5, 20, 21, 22}, {9}};
  const std::vector<PrefixedTokens> sequences = {{&ids[0], 3}, {&ids[1], 0}, {&ids[2], 3}, {&ids[3], 2}, {&ids[4], 0}};
  const PrefixGroups g = group_by_prefix(sequences);
  ASSERT_EQ(g.walk.size(), 3u);
  EXPECT_TRUE(at::equal(g.walk[0].prefix, at::tensor(std::vector<int64_t>{1, 2, 3})));
  EXPECT_TRUE(at::equal(g.walk[0].ids, at::tensor(std::vector<int64_t>{10, 11, 12, 0}).view({2, 2})));
  EXPECT_FALSE(g.walk[1].prefix.defined());
  EXPECT_TRUE(at::equal(g.walk[1].ids, at::tensor(std::vector<int64_t>{7, 8, 9, 0}).view({2, 2})));
  EXPECT_TRUE(at::equal(g.walk[2].prefix, at::tensor(std::vector<int64_t>{4, 5})));
  EXPECT_TRUE(at::equal(g.walk[2].ids, at::tensor(std::vector<int64_t>{20, 21, 22}).view({1, 3})));
  EXPECT_EQ(g.sequence_of_row, (std::vector<size_t>{0, 2, 1, 4, 3}));
  EXPECT_EQ(g.tokens, (3 + 4) + 4 + (2 + 3));
  EXPECT_EQ(g.tokens_whole, 5 * 5);
  // A prefix must leave the sequence a token of its own.
  const std::vector<PrefixedTokens> whole_prefix = {{&ids[1], 2}};
  test::expect_error([&] { group_by_prefix(whole_prefix); }, {"sequence 0 of 2 tokens cannot share a prefix of 2"});
}

// Loglik scoring's second level: a question's options share a stem after the prefix. Sequences with the
// same stem form one group of rows (in order of first appearance, the empty stem a group without one); the
// stem is computed once, so the walk's tokens count each stem once.
TEST(SharedPrefix, GroupByPrefixGroupsRowsByStem) {
  const std::vector<std::vector<int64_t>> ids = {
      {1, 2, 30, 31, 40}, {1, 2, 30, 31, 41, 42}, {1, 2, 50, 43}, {1, 2, 30, 31, 44}, {1, 2, 45}, {7, 8, 60}};
  // (prefix, stem): three share {1, 2} + {30, 31}, one has stem {50}, one none; the last no prefix.
  const std::vector<PrefixedTokens> sequences = {{&ids[0], 2, 2}, {&ids[1], 2, 2}, {&ids[2], 2, 1},
                                                 {&ids[3], 2, 2}, {&ids[4], 2, 0}, {&ids[5], 0, 2}};
  const PrefixGroups g = group_by_prefix(sequences);
  ASSERT_EQ(g.walk.size(), 2u);
  const model::PrefixedTokenRows& b = g.walk[0];
  EXPECT_TRUE(at::equal(b.prefix, at::tensor(std::vector<int64_t>{1, 2})));
  EXPECT_EQ(b.group_rows, (std::vector<int64_t>{3, 1, 1}));
  ASSERT_EQ(b.stems.size(), 3u);
  EXPECT_TRUE(at::equal(b.stems[0], at::tensor(std::vector<int64_t>{30, 31})));
  EXPECT_TRUE(at::equal(b.stems[1], at::tensor(std::vector<int64_t>{50})));
  EXPECT_FALSE(b.stems[2].defined());
  EXPECT_TRUE(at::equal(b.ids, at::tensor(std::vector<int64_t>{40, 0, 41, 42, 44, 0, 43, 0, 45, 0}).view({5, 2})));
  EXPECT_FALSE(g.walk[1].prefix.defined());
  EXPECT_EQ(g.walk[1].group_rows, (std::vector<int64_t>{1}));
  EXPECT_TRUE(at::equal(g.walk[1].ids, at::tensor(std::vector<int64_t>{60}).view({1, 1})));
  EXPECT_EQ(g.sequence_of_row, (std::vector<size_t>{0, 1, 3, 2, 4, 5}));
  EXPECT_EQ(g.stems, 3);
  EXPECT_EQ(g.tokens, (2 + 2 + 1 + 5 * 2) + (2 + 1));
  EXPECT_EQ(g.tokens_whole, 6 * 6);
  // Prefix and stem must leave the sequence a token of its own.
  const std::vector<PrefixedTokens> whole_stem = {{&ids[2], 2, 2}};
  test::expect_error([&] { group_by_prefix(whole_stem); },
                     {"sequence 0 of 4 tokens cannot share a prefix of 2 and a stem of 2"});
}

TEST(ChoiceResults, MicroMacroAndCategories) {
  const Json subjects = Json::parse(R"({
    "a": {"category": "STEM", "correct": 3, "total": 4, "accuracy": 0.75},
    "b": {"category": "STEM", "correct": 1, "total": 1, "accuracy": 1.0},
    "c": {"category": "other", "correct": 0, "total": 5, "accuracy": 0.0}})");
  const Json r = aggregate_choice_results(subjects);
  EXPECT_EQ(r["questions"], 10);
  EXPECT_DOUBLE_EQ(r["micro_accuracy"].get<double>(), 0.4);
  EXPECT_DOUBLE_EQ(r["macro_accuracy"].get<double>(), (0.75 + 1.0 + 0.0) / 3);
  EXPECT_DOUBLE_EQ(r["categories"]["STEM"]["accuracy"].get<double>(), 0.8);
  EXPECT_EQ(r["categories"]["other"]["total"], 5);
}

}  // namespace
}  // namespace fq::pipelines
