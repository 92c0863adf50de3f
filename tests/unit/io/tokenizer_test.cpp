// The tokenizer against the shared byte-level BPE tokenizer and its HF goldens, its API contracts,
// edge cases and the errors for corrupt tokenizer.json files.
#include "lib/io/tokenizer.h"

#include <thread>

#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "tests/unit/io/tokenizer_test_support.h"

namespace fq::io {
namespace {

using test::shared_path;

std::string shared_tokenizer_json() { return shared_path("models/tokenizer/tokenizer.json"); }

// Expects `body` to throw fq::Error whose message contains every string of `parts`.
template <typename Body>
void expect_error(Body body, const std::vector<std::string>& parts) {
  try {
    body();
    ADD_FAILURE() << "expected an fq::Error mentioning '" << parts.front() << "'";
  } catch (const Error& e) {
    for (const std::string& part : parts) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << "'" << part << "' missing in: " << e.what();
    }
  }
}

TEST(Tokenizer, ReproducesSharedGoldenEncodings) {
  FQ_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_file(shared_tokenizer_json());
  const Json golden = read_json_file(shared_path("models/tokenizer/golden_encodings.json"));
  ASSERT_FALSE(golden.empty());
  for (const Json& entry : golden) {
    const std::string text = entry["text"].get<std::string>();
    EXPECT_EQ(tok.encode(text), entry["ids"].get<std::vector<int64_t>>()) << text.substr(0, 60);
    EXPECT_EQ(tok.decode(entry["ids"].get<std::vector<int64_t>>(), /*skip_special_tokens=*/true), text);
  }
}

TEST(Tokenizer, ModelDirectoryMatchesTokenizerJsonForTinyModels) {
  FQ_REQUIRE_SHARED();
  const Json golden = read_json_file(shared_path("models/tokenizer/golden_encodings.json"));
  for (const char* model : {"tiny-llama3", "tiny-deepseek-v3"}) {
    const Tokenizer tok = Tokenizer::from_model_dir(shared_path(std::string("models/") + model));
    EXPECT_EQ(tok.bos_id(), 0) << model;  // tokenizer_config.json: <|begin_of_text|>
    EXPECT_EQ(tok.eos_id(), 1) << model;  // <|end_of_text|>
    for (const Json& entry : golden) {
      EXPECT_EQ(tok.encode(entry["text"].get<std::string>()), entry["ids"].get<std::vector<int64_t>>()) << model;
    }
  }
}

TEST(Tokenizer, RoundTripsTheKjvSplits) {
  FQ_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_file(shared_tokenizer_json());
  for (const char* split : {"test", "valid"}) {
    const std::string text = read_file(shared_path(std::string("data/kjv/kjv.") + split + ".txt"));
    const std::vector<int64_t> ids = tok.encode(text, /*add_special_tokens=*/false);
    EXPECT_GT(ids.size(), text.size() / 8) << split;
    EXPECT_EQ(tok.decode(ids), text) << split;
    const std::vector<int64_t> with_bos = tok.encode(text);
    ASSERT_EQ(with_bos.size(), ids.size() + 1);
    EXPECT_EQ(with_bos.front(), tok.bos_id());
  }
}

TEST(Tokenizer, RoundTripsTrickyTexts) {
  FQ_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_file(shared_tokenizer_json());
  for (const Json& text : read_json_file(test::tokenizer_test_data("tokenizer_texts.json"))["texts"]) {
    const std::string s = text.get<std::string>();
    EXPECT_EQ(tok.decode(tok.encode(s, false)), s) << s;
  }
}

TEST(Tokenizer, VocabularyAccessors) {
  FQ_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_file(shared_tokenizer_json());
  EXPECT_EQ(tok.vocab_size(), 4096);
  EXPECT_EQ(tok.bos_id(), 0);   // the template's single special token before $A
  EXPECT_EQ(tok.eos_id(), -1);  // nothing after $A, and no tokenizer_config.json was read
  EXPECT_EQ(tok.token_to_id("<|end_of_text|>"), 1);
  EXPECT_EQ(tok.token_to_id("\xC4\xA0th"), 259);  // "Ġth", made by the second merge
  EXPECT_EQ(tok.token_to_id("no such token"), -1);
  EXPECT_EQ(tok.id_to_token(0), "<|begin_of_text|>");
  EXPECT_EQ(tok.id_to_token(259), "\xC4\xA0th");
  EXPECT_TRUE(tok.is_special(0));
  EXPECT_FALSE(tok.is_special(259));
  expect_error([&] { tok.id_to_token(4096); }, {"4096", "tokenizer.json"});
  expect_error([&] { tok.decode({5, -3}); }, {"-3"});
}

TEST(Tokenizer, EmptyTextAndSpecialTokensOnly) {
  FQ_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_file(shared_tokenizer_json());
  EXPECT_EQ(tok.encode("", false), std::vector<int64_t>{});
  EXPECT_EQ(tok.encode(""), std::vector<int64_t>{0});
  EXPECT_EQ(tok.encode("<|begin_of_text|><|end_of_text|>", false), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(tok.encode("<|begin_of_text|><|end_of_text|>"), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(tok.decode({0, 1}), "<|begin_of_text|><|end_of_text|>");
  EXPECT_EQ(tok.decode({0, 1}, /*skip_special_tokens=*/true), "");
  EXPECT_EQ(tok.decode({}), "");
  // A special token inside text splits it: "a<|end_of_text|>b" is "a", <|end_of_text|>, "b".
  const std::vector<int64_t> ids = tok.encode("a<|end_of_text|>b", false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 1);
  EXPECT_EQ(tok.decode(ids), "a<|end_of_text|>b");
}

TEST(Tokenizer, RejectsInvalidUtf8WithItsOffset) {
  FQ_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_file(shared_tokenizer_json());
  expect_error(
      [&] {
        tok.encode(
            "abc\xFF"
            "def");
      },
      {"UTF-8", "offset 3"});
  expect_error([&] { tok.encode("ok \xE4\xB8"); }, {"UTF-8", "offset 3"});    // truncated character
  expect_error([&] { tok.encode("\xED\xA0\x80 surrogate"); }, {"offset 0"});  // UTF-16 surrogate
  expect_error([&] { tok.encode("\xC0\xAF overlong"); }, {"offset 0"});
}

TEST(Tokenizer, DecodesPartialCharactersToReplacementCharacters) {
  FQ_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_file(shared_tokenizer_json());
  // "🤖" is four bytes; the byte-level tokens of its first three bytes decode to one U+FFFD.
  const std::vector<int64_t> ids = tok.encode("\xF0\x9F\xA4\x96", false);
  ASSERT_GE(ids.size(), 2u);
  std::vector<int64_t> head(ids.begin(), ids.end() - 1);
  EXPECT_EQ(tok.decode(head), "\xEF\xBF\xBD");
}

TEST(Tokenizer, CopiesShareOneImplementationAcrossThreads) {
  FQ_REQUIRE_SHARED();
  const Tokenizer tok = Tokenizer::from_file(shared_tokenizer_json());
  const std::string text = read_file(shared_path("data/kjv/kjv.valid.txt"));
  const std::vector<int64_t> expected = tok.encode(text);
  std::vector<std::vector<int64_t>> results(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    Tokenizer copy = tok;  // cheap: shares the parsed tokenizer and its cache
    threads.emplace_back([copy, &text, &results, i] { results[i] = copy.encode(text); });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, expected);
}

TEST(Tokenizer, TokenizerConfigSetsBosEosAndTemplate) {
  const std::string path = test::write_tokenizer_json("tokenizer_config_template", test::tiny_bpe_tokenizer_json());
  const std::string dir = path.substr(0, path.rfind('/'));
  Json config = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                 {"bos_token", "<bos>"},
                 {"eos_token", {{"__type", "AddedToken"}, {"content", "c"}}},
                 {"add_bos_token", false},
                 {"add_eos_token", true}};
  write_file_atomic(dir + "/tokenizer_config.json", config.dump());
  const Tokenizer tok = Tokenizer::from_model_dir(dir);
  EXPECT_EQ(tok.bos_id(), 6);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.encode("ab"), (std::vector<int64_t>{3, 2}));  // no BOS, EOS "c" appended
  EXPECT_EQ(tok.encode("ab", false), (std::vector<int64_t>{3}));

  // Llama tokenizer classes default to add_bos_token=true, add_eos_token=false.
  write_file_atomic(dir + "/tokenizer_config.json",
                    Json({{"tokenizer_class", "LlamaTokenizerFast"}, {"bos_token", "<bos>"}}).dump());
  EXPECT_EQ(Tokenizer::from_model_dir(dir).encode("ab"), (std::vector<int64_t>{6, 3}));

  // Without the flags the file's post-processor stays.
  write_file_atomic(dir + "/tokenizer_config.json", Json({{"eos_token", "a"}}).dump());
  const Tokenizer plain = Tokenizer::from_model_dir(dir);
  EXPECT_EQ(plain.encode("ab"), (std::vector<int64_t>{6, 3}));
  EXPECT_EQ(plain.eos_id(), 0);

  write_file_atomic(dir + "/tokenizer_config.json", Json({{"bos_token", "<nope>"}}).dump());
  expect_error([&] { Tokenizer::from_model_dir(dir); }, {"tokenizer_config.json", "bos_token", "<nope>"});
  write_file_atomic(dir + "/tokenizer_config.json", Json({{"add_eos_token", true}}).dump());
  expect_error([&] { Tokenizer::from_model_dir(dir); }, {"tokenizer_config.json", "add_eos_token"});
  expect_error([&] { Tokenizer::from_model_dir(dir + "/missing"); }, {"missing", "tokenizer.json"});
}

// ---- corrupt tokenizer.json files: every error names the file and the field ----

struct CorruptCase {
  const char* name;
  void (*edit)(Json* doc);
  std::vector<std::string> expected;  // besides the file path
};

TEST(Tokenizer, CorruptFilesNameFileAndField) {
  const std::vector<CorruptCase> cases = {
      {"no_model", [](Json* d) { d->erase("model"); }, {"missing required field 'model'"}},
      {"model_type", [](Json* d) { (*d)["model"]["type"] = "WordPiece"; }, {"model.type", "WordPiece"}},
      {"merge_one_token", [](Json* d) { (*d)["model"]["merges"][1] = "ab"; }, {"model.merges[1]", "\"ab\""}},
      {"merge_unknown_token", [](Json* d) { (*d)["model"]["merges"][0] = "b z"; }, {"model.merges[0]", "'z'"}},
      {"merge_result_missing", [](Json* d) { (*d)["model"]["vocab"].erase("bc"); }, {"model.merges[0]", "'bc'"}},
      {"merge_pair_shape", [](Json* d) { (*d)["model"]["merges"][2] = Json::array({"a"}); }, {"model.merges[2]"}},
      {"vocab_id", [](Json* d) { (*d)["model"]["vocab"]["c"] = -2; }, {"model.vocab.c", "-2"}},
      {"vocab_duplicate_id", [](Json* d) { (*d)["model"]["vocab"]["c"] = 1; }, {"model.vocab", "id 1"}},
      {"dropout", [](Json* d) { (*d)["model"]["dropout"] = 0.1; }, {"model.dropout"}},
      {"pre_tokenizer_type",
       [](Json* d) {
         (*d)["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Whitespace"}}}}};
       },
       {"pre_tokenizer.pretokenizers[0]", "'Whitespace'"}},
      {"bad_regex",
       [](Json* d) {
         (*d)["pre_tokenizer"] = {
             {"type", "Split"}, {"pattern", {{"Regex", "(\\p{L}"}}}, {"behavior", "Isolated"}, {"invert", false}};
       },
       {"pre_tokenizer.pattern", "invalid regular expression"}},
      {"bad_behavior",
       [](Json* d) {
         (*d)["pre_tokenizer"] = {
             {"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Sideways"}, {"invert", false}};
       },
       {"pre_tokenizer.behavior", "'Sideways'"}},
      {"normalizer_type",
       [](Json* d) {
         (*d)["normalizer"] = {{"type", "NFKC"}};
       },
       {"normalizer", "'NFKC'"}},
      {"decoder_strip",
       [](Json* d) {
         (*d)["decoder"] = {{"type", "Strip"}, {"content", "ab"}, {"start", 1}, {"stop", 0}};
       },
       {"decoder.content", "one character"}},
      {"template_unknown_special",
       [](Json* d) { (*d)["post_processor"]["special_tokens"].erase("<bos>"); },
       {"post_processor.special_tokens.<bos>"}},
      {"added_token_lstrip", [](Json* d) { (*d)["added_tokens"][0]["lstrip"] = true; }, {"added_tokens[0].lstrip"}},
      {"added_token_content",
       [](Json* d) { (*d)["added_tokens"][0].erase("content"); },
       {"added_tokens[0]", "'content'"}},
      {"version", [](Json* d) { (*d)["version"] = "2.0"; }, {"version", "2.0"}},
  };
  for (const CorruptCase& c : cases) {
    Json doc = test::tiny_bpe_tokenizer_json();
    c.edit(&doc);
    const std::string path = test::write_tokenizer_json(std::string("tokenizer_corrupt_") + c.name, doc);
    std::vector<std::string> expected = c.expected;
    expected.push_back(path);
    SCOPED_TRACE(c.name);
    expect_error([&] { Tokenizer::from_file(path); }, expected);
  }
}

TEST(Tokenizer, TruncatedOrMissingFilesNameTheFile) {
  const std::string dir = test::scratch_dir("tokenizer_truncated");
  const std::string full = test::tiny_bpe_tokenizer_json().dump();
  write_file_atomic(dir + "/tokenizer.json", full.substr(0, full.size() / 2));
  expect_error([&] { Tokenizer::from_file(dir + "/tokenizer.json"); }, {dir + "/tokenizer.json", "not valid JSON"});
  expect_error([&] { Tokenizer::from_file(dir + "/absent.json"); }, {dir + "/absent.json"});
}

}  // namespace
}  // namespace fq::io
