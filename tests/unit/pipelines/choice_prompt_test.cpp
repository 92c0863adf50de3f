#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/io/tokenizer.h"
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
  // A quote that does not open a field, and text after a closing quote, are text (pandas, Python's csv): the
  // MMLU release has `...Will to Truth?",An intrinsic...` unquoted in college_medicine_val.csv.
  EXPECT_EQ(parse_csv("Truth?\",An\n", "q.csv")[0].fields, (std::vector<std::string>{"Truth?\"", "An"}));
  EXPECT_EQ(parse_csv("\"ab\"c \"d\",e\n", "q.csv")[0].fields, (std::vector<std::string>{"abc \"d\"", "e"}));
}

// What files saved by other tools add: a UTF-8 byte order mark (pandas drops it; left in, it would begin the
// first question, in MMLU the first shot of every prompt), CRLF rows (CR kept inside quotes, as pandas and the
// MMLU release's own CRLF questions have it), empty fields, and no newline after the last row.
TEST(CsvTable, ByteOrderMarkCrlfEmptyFieldsAndNoFinalNewline) {
  const std::string text = "\xEF\xBB\xBFid,question,,x\r\n\"multi\r\nline\",\"\",b,\"\"\"\"\r\nlast,row";
  const std::vector<CsvRow> rows = parse_csv(text, "bom.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].fields, (std::vector<std::string>{"id", "question", "", "x"}));
  EXPECT_EQ(rows[1].fields, (std::vector<std::string>{"multi\r\nline", "", "b", "\""}));
  EXPECT_EQ(rows[1].line, 2);
  EXPECT_EQ(rows[2].fields, (std::vector<std::string>{"last", "row"}));
  EXPECT_EQ(rows[2].line, 4);
  // Only a leading mark is one: elsewhere the bytes are text.
  EXPECT_EQ(parse_csv("a,\xEF\xBB\xBF\n", "t.csv")[0].fields[1], "\xEF\xBB\xBF");
}

// Writes `text` to `dir`/`relative`, making its folder.
void write_csv(const std::string& dir, const std::string& relative, const std::string& text) {
  const std::filesystem::path path = std::filesystem::path(dir) / relative;
  std::filesystem::create_directories(path.parent_path());
  write_file_atomic(path.string(), text);
}

std::string mmlu_rows(int n, const std::string& tag) {
  std::string out;
  for (int i = 0; i < n; ++i) out += "\"" + tag + " " + std::to_string(i) + ", really?\",a,b,c,d," + "ABCD"[i % 4] + "\n";
  return out;
}

// The released MMLU layout: subjects (with underscores) found from the evaluated split's file names, in name
// order; their dev files; the subject filter; and the errors an evaluator meets on other trees.
TEST(ChoiceData, MmluDiscoveryFilterAndLayoutErrors) {
  const std::string dir = test::scratch_dir("choice_data_mmlu");
  ChoiceDataOptions options;
  options.dir = dir;
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 5); }, {"no directory", "test"});
  std::filesystem::create_directories(dir + "/test");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 5); }, {"no '*_test.csv' file"});
  for (const std::string s : {"high_school_us_history", "virology"}) {
    write_csv(dir, "test/" + s + "_test.csv", mmlu_rows(3, s));
    write_csv(dir, "dev/" + s + "_dev.csv", mmlu_rows(5, "dev"));
  }
  write_csv(dir, "val/anatomy_val.csv", mmlu_rows(2, "anatomy"));  // in another split only: not a test subject
  std::vector<ChoiceSubject> subjects = load_choice_subjects(ChoiceBenchmark::kMmlu, options, 5);
  ASSERT_EQ(subjects.size(), 2u);
  EXPECT_EQ(subjects[0].name, "high_school_us_history");
  EXPECT_EQ(subjects[0].display, "high school us history");
  EXPECT_EQ(subjects[0].category, "humanities");
  ASSERT_EQ(subjects[0].eval.size(), 3u);
  EXPECT_EQ(subjects[0].eval[1].question, "high_school_us_history 1, really?");
  EXPECT_EQ(subjects[0].eval[1].answer, 1);
  EXPECT_EQ(subjects[1].dev.size(), 5u);

  options.subjects = {"virology", "virologyy"};
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 5); },
                     {"virologyy_test.csv", "high_school_us_history, virology"});
  options.subjects = {"virology", "virology"};
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 5); }, {"'virology' is listed twice"});
  options.subjects = {"virology"};
  EXPECT_EQ(load_choice_subjects(ChoiceBenchmark::kMmlu, options, 5).size(), 1u);

  // A subject without its dev file cannot have shots (0-shot needs none); nor can a split without the subject.
  std::filesystem::remove(dir + "/dev/virology_dev.csv");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 5); },
                     {"virology_dev.csv", "--shots 0"});
  EXPECT_TRUE(load_choice_subjects(ChoiceBenchmark::kMmlu, options, 0)[0].dev.empty());
  options.split = "val";
  options.subjects = {"virology"};
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 0); }, {"virology_val.csv", "anatomy"});
  options = ChoiceDataOptions();
  options.dir = dir;

  // Bad rows name the file and the line: an extra field (a comma outside quotes), an answer outside A-D, an
  // empty answer; and a file without questions.
  write_csv(dir, "test/virology_test.csv", mmlu_rows(2, "v") + "\"q\nspans lines\",a,b,c,d,A,extra\n");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 0); },
                     {"virology_test.csv line 3", "7 fields, expected 6"});
  write_csv(dir, "test/virology_test.csv", mmlu_rows(2, "v") + "q,a,b,c,d,E\n");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 0); },
                     {"virology_test.csv line 3", "answer 'E'"});
  write_csv(dir, "test/virology_test.csv", "q,a,b,c,d,\n");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 0); },
                     {"virology_test.csv line 1", "no answer"});
  write_csv(dir, "test/virology_test.csv", "\n");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kMmlu, options, 0); },
                     {"virology_test.csv", "no questions"});
}

// The released C-Eval layout: a header, the id column, dev with an explanation column (quoted, multi-line),
// val without; the test split's withheld labels are an error that says so.
TEST(ChoiceData, CevalHeaderColumnsAndWithheldLabels) {
  const std::string dir = test::scratch_dir("choice_data_ceval");
  write_csv(dir, "dev/logic_dev.csv",
            "\xEF\xBB\xBFid,question,A,B,C,D,answer,explanation\n"
            "0,\"甲说：“都对”，乙呢？\",真,假,\"不,定\",无,C,\"1. 先看甲\n2. 再看乙\"\n"
            "1,问题二,a,b,c,d,A,\n");
  write_csv(dir, "val/logic_val.csv", "id,question,A,B,C,D,answer\r\n0,问题,甲,乙,丙,丁,D\r\n");
  ChoiceDataOptions options;
  options.dir = dir;
  const std::vector<ChoiceSubject> subjects = load_choice_subjects(ChoiceBenchmark::kCeval, options, 5);
  ASSERT_EQ(subjects.size(), 1u);
  const ChoiceSubject& s = subjects[0];
  EXPECT_EQ(s.display, "逻辑学");
  EXPECT_EQ(s.category, "Humanities");
  ASSERT_EQ(s.dev.size(), 2u);
  EXPECT_EQ(s.dev[0].question, "甲说：“都对”，乙呢？");
  EXPECT_EQ(s.dev[0].options[2], "不,定");
  EXPECT_EQ(s.dev[0].answer, 2);
  ASSERT_EQ(s.eval.size(), 1u);
  EXPECT_EQ(s.eval[0].options[3], "丁");
  EXPECT_EQ(s.eval[0].answer, 3);

  // A val row with the dev's extra column does not match its header.
  write_csv(dir, "val/logic_val.csv", "id,question,A,B,C,D,answer\n0,问题,甲,乙,丙,丁,D,解析\n");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kCeval, options, 5); },
                     {"logic_val.csv line 2", "8 fields, expected 7"});
  write_csv(dir, "val/logic_val.csv", "question,A,B,C,D,answer\n问题,甲,乙,丙,丁,D\n");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kCeval, options, 5); },
                     {"logic_val.csv line 1", "id,question,A,B,C,D,answer"});
  options.split = "test";
  write_csv(dir, "test/logic_test.csv", "id,question,A,B,C,D\n0,问题,甲,乙,丙,丁\n");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kCeval, options, 5); },
                     {"logic_test.csv line 1", "withholds the test labels", "--split val"});
  write_csv(dir, "test/logic_test.csv", "id,question,A,B,C,D,answer,explanation\n0,问题,甲,乙,丙,丁,,\n");
  test::expect_error([&] { load_choice_subjects(ChoiceBenchmark::kCeval, options, 5); },
                     {"logic_test.csv line 2", "withholds the test labels"});
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

// A SentencePiece-style BPE as LLaMA-2's tokenizer.json has it: "▁" prepended to the text and for every space,
// no pre-tokenizer. Its merges join "▁▁" before "▁A", so " A" encoded alone ("▁▁A") begins with "▁▁" whatever
// the letter, while after "Answer:" it is the one token "▁A".
io::Tokenizer sentencepiece_style_tokenizer() {
  const Json doc = Json::parse(R"({
    "version": "1.0", "added_tokens": [],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                   {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": null, "post_processor": null, "decoder": null,
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
              "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
              "vocab": {"\u2581": 0, "A": 1, "B": 2, "C": 3, "D": 4, "n": 5, "s": 6, "w": 7, "e": 8, "r": 9,
                        ":": 10, "a": 11, "b": 12, "c": 13, "\u7b54": 14, "\u6848": 15, "\uff1a": 16,
                        "\u2581\u2581": 17, "\u2581A": 18, "\u2581B": 19, "\u2581C": 20, "\u2581D": 21, "\u2581c": 22},
              "merges": ["\u2581 \u2581", "\u2581 A", "\u2581 B", "\u2581 C", "\u2581 D", "\u2581 c"]}
  })");
  const std::string path = test::scratch_dir("choice_sentencepiece_tokenizer") + "/tokenizer.json";
  write_file_atomic(path, doc.dump());
  return io::Tokenizer::from_file(path);
}

// Letter ids and loglik continuations are the tokens the answer adds after the prompt's "Answer:" (MMLU) or
// "答案：" (C-Eval), as the tokenizer splits them together; C-Eval's letters are "A".."D" encoded alone, as
// its official evaluator takes them.
TEST(ChoicePrompt, AnswerTokensAsTheTokenizerSplitsThemAfterThePrompt) {
  const io::Tokenizer tok = sentencepiece_style_tokenizer();
  ASSERT_EQ(tok.encode(" A", false), (std::vector<int64_t>{17, 1}));  // what encoding it alone would read
  EXPECT_EQ(letter_token_ids(tok, ChoiceBenchmark::kMmlu), (std::array<int64_t, 4>{18, 19, 20, 21}));
  EXPECT_EQ(letter_token_ids(tok, ChoiceBenchmark::kCeval), (std::array<int64_t, 4>{18, 19, 20, 21}));
  // " cab" after "Answer:" is "▁c a b" (alone: "▁▁ c a b"); "cab" after "答案：" is "c a b" (alone: "▁c a b").
  EXPECT_EQ(encode_continuation(tok, ChoiceBenchmark::kMmlu, " cab"), (std::vector<int64_t>{22, 11, 12}));
  EXPECT_EQ(encode_continuation(tok, ChoiceBenchmark::kCeval, "cab"), (std::vector<int64_t>{13, 11, 12}));
  // Byte-level BPE (LLaMA-3, DeepSeek V3) splits at the space either way: " A" and "A" are single tokens.
  FQ_REQUIRE_SHARED();
  const io::Tokenizer llama3 = io::Tokenizer::from_model_dir(test::shared_path("models/tiny-llama3"));
  const std::array<int64_t, 4> mmlu = letter_token_ids(llama3, ChoiceBenchmark::kMmlu);
  const std::array<int64_t, 4> ceval = letter_token_ids(llama3, ChoiceBenchmark::kCeval);
  for (int k = 0; k < 4; ++k) {
    const std::string letter(1, static_cast<char>('A' + k));
    EXPECT_EQ(llama3.encode(" " + letter, false), (std::vector<int64_t>{mmlu[k]}));
    EXPECT_EQ(llama3.encode(letter, false), (std::vector<int64_t>{ceval[k]}));
  }
}

// Shots are dropped from the end while the prompt plus its longest continuation exceeds the context, as the
// original MMLU evaluator crops: letter scoring reads the prompt's last position, so a prompt of exactly the
// context keeps its shots. A question too long without shots is truncated from the left.
TEST(ChoicePrompt, FittedPromptDropsShotsOnlyBeyondTheContext) {
  FQ_REQUIRE_SHARED();
  const io::Tokenizer tok = io::Tokenizer::from_model_dir(test::shared_path("models/tiny-llama3"));
  const ChoiceSubject s = subject(ChoiceBenchmark::kMmlu, "virology", 5);
  const ChoiceQuestion q{"What?", {"w", "x", "y", "z"}, 2};
  const std::vector<int64_t> whole = tok.encode(build_prompt(ChoiceBenchmark::kMmlu, s, q, 5), true);
  const int64_t n = static_cast<int64_t>(whole.size());
  int used = -1;
  int64_t dropped = -1;
  EXPECT_EQ(fitted_prompt(tok, ChoiceBenchmark::kMmlu, s, q, 5, n, {}, &used, &dropped), whole);
  EXPECT_EQ(used, 5);
  EXPECT_EQ(dropped, 0);
  EXPECT_EQ(fitted_prompt(tok, ChoiceBenchmark::kMmlu, s, q, 5, n - 1, {}, &used, &dropped),
            tok.encode(build_prompt(ChoiceBenchmark::kMmlu, s, q, 4), true));
  EXPECT_EQ(used, 4);
  const std::vector<std::vector<int64_t>> continuations = {{1}, {1, 2, 3}, {1}, {1, 2}};
  fitted_prompt(tok, ChoiceBenchmark::kMmlu, s, q, 5, n + 3, continuations, &used, &dropped);
  EXPECT_EQ(used, 5);
  fitted_prompt(tok, ChoiceBenchmark::kMmlu, s, q, 5, n + 2, continuations, &used, &dropped);
  EXPECT_EQ(used, 4);
  // Too long even without shots: the 0-shot prompt loses its first tokens (lm-evaluation-harness's left
  // truncation), leaving the longest continuation room in the context.
  const std::vector<int64_t> zero_shot = tok.encode(build_prompt(ChoiceBenchmark::kMmlu, s, q, 0), true);
  ASSERT_GT(zero_shot.size(), 8u);
  const std::vector<int64_t> kept(zero_shot.end() - 5, zero_shot.end());
  EXPECT_EQ(fitted_prompt(tok, ChoiceBenchmark::kMmlu, s, q, 5, 8, continuations, &used, &dropped), kept);
  EXPECT_EQ(used, 0);
  EXPECT_EQ(dropped, static_cast<int64_t>(zero_shot.size()) - 5);
  EXPECT_EQ(fitted_prompt(tok, ChoiceBenchmark::kMmlu, s, q, 5, 8, {}, &used, &dropped),
            std::vector<int64_t>(zero_shot.end() - 8, zero_shot.end()));
  test::expect_error([&] { fitted_prompt(tok, ChoiceBenchmark::kMmlu, s, q, 5, 3, continuations, &used, &dropped); },
                     {"virology: an answer of 3 tokens", "context of 3 tokens"});
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
