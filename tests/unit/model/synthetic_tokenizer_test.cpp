#include "lib/model/synthetic_tokenizer.h"

#include <gtest/gtest.h>

#include "tests/support/expect_error.h"
#include "tests/support/shared_dir.h"

namespace fq::model {
namespace {

// Worked by hand. Lines "aaa aaa aaa" and "ab ab" pre-tokenize to aaa, Ġaaa x2, ab, Ġab. Pair counts:
// (a,a) 6, (Ġ,a) 3, (a,b) 2 -> merge a+a; then (aa,a) 3 -> merge; then (Ġ,aaa) and (a,b) tie at 2 and
// the smaller symbol ids win ('a' < 'b' < 'Ġ' by code point) -> a+b; then Ġ+aaa; (Ġ,ab) occurs once: stop.
TEST(SyntheticTokenizer, TrainerMergesMostFrequentPairsWithHfTieBreaking) {
  const std::vector<BpeMerge> merges = train_byte_level_bpe("aaa aaa aaa\nab ab", 10, "corpus");
  const std::vector<BpeMerge> want = {{"a", "a"}, {"aa", "a"}, {"a", "b"}, {"Ġ", "aaa"}};
  EXPECT_EQ(merges, want);
  EXPECT_EQ(train_byte_level_bpe("aaa aaa aaa\nab ab", 2, "corpus").size(), 2u) << "stops at max_merges";
}

TEST(SyntheticTokenizer, NoPieceSpansALine) {
  // "x.\n" twice would merge "." with the newline if lines were not trained one by one.
  for (const BpeMerge& m : train_byte_level_bpe("ab.\nab.\nab.\n", 10, "corpus")) {
    EXPECT_EQ((m.first + m.second).find("Ċ"), std::string::npos) << m.first << " " << m.second;
  }
}

TEST(SyntheticTokenizer, TokenizerJsonLayout) {
  const Json t = byte_level_bpe_tokenizer({{"a", "a"}, {"aa", "a"}});
  const Json& vocab = t["model"]["vocab"];
  EXPECT_EQ(t["model"]["type"], "BPE");
  EXPECT_EQ(vocab.size(), 258u + 2);
  EXPECT_EQ(vocab["<|begin_of_text|>"], 0);
  EXPECT_EQ(vocab["<|end_of_text|>"], 1);
  EXPECT_EQ(vocab["!"], 2) << "byte symbols by code point: '!' (0x21) first";
  EXPECT_EQ(vocab["aa"], 258);
  EXPECT_EQ(vocab["aaa"], 259);
  EXPECT_EQ(t["model"]["merges"][1], Json::array({"aa", "a"}));
  EXPECT_EQ(t["added_tokens"].size(), 2u);
  EXPECT_EQ(t["post_processor"]["single"][0]["SpecialToken"]["id"], "<|begin_of_text|>");
  EXPECT_EQ(tokenizer_token_id(t, "<|end_of_text|>", "t.json"), 1);
  EXPECT_EQ(tokenizer_token_id(t, "aa", "t.json"), 258);
  test::expect_error([&] { tokenizer_token_id(t, "<s>", "t.json"); }, {"t.json", "<s>"});
}

TEST(SyntheticTokenizer, InvalidUtf8CorpusNamesTheLine) {
  test::expect_error([] { train_byte_level_bpe("fine\nbad \xff\xfe here\n", 10, "corpus.txt"); },
                     {"corpus.txt", "line 2"});
}

// Everything but the learned vocabulary matches the shared tokenizer (LLaMA-3 regex, byte-level, BOS).
TEST(SyntheticTokenizer, StructureMatchesTheSharedTokenizer) {
  FQ_REQUIRE_SHARED();
  const Json shared = read_json_file(test::shared_path("models/tokenizer/tokenizer.json"));
  const Json ours = byte_level_bpe_tokenizer({});
  for (const char* key : {"version", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder"}) {
    EXPECT_EQ(ours[key], shared[key]) << key;
  }
  for (auto it = ours["model"]["vocab"].begin(); it != ours["model"]["vocab"].end(); ++it) {
    EXPECT_EQ(it.value(), shared["model"]["vocab"][it.key()]) << it.key();
  }
}

}  // namespace
}  // namespace fq::model
