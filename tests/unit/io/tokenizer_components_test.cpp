// The tokenizer's parts on hand-built inputs whose results follow from HF tokenizers' definitions:
// the regex engine's Unicode semantics, UTF-8 handling, the byte-level alphabet, BPE merge order and
// its options, pre-tokenizer split behaviors and decoders.
#include <gtest/gtest.h>

#include "lib/core/error.h"
#include "lib/io/tokenizer.h"
#include "lib/io/tokenizer/byte_level_alphabet.h"
#include "lib/io/tokenizer/decoders.h"
#include "lib/io/tokenizer/pre_tokenizers.h"
#include "lib/io/tokenizer/unicode_regex.h"
#include "lib/io/tokenizer/utf8.h"
#include "tests/unit/io/tokenizer_test_support.h"

namespace fq::io::tok {
namespace {

const std::string kWhere = "test";

// The matched substrings of `text`.
std::vector<std::string> matches(const UnicodeRegex& regex, const std::string& text) {
  std::vector<std::string> out;
  for (const MatchSpan& s : regex.find_matches(text)) {
    if (s.is_match) out.push_back(text.substr(s.begin, s.end - s.begin));
  }
  return out;
}

TEST(UnicodeRegex, UsesUnicodePropertiesAndLookahead) {
  // LLaMA-3's pattern, as in its tokenizer.json.
  const UnicodeRegex llama3 = UnicodeRegex::from_pattern(
      R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*)"
      R"(|\s*[\r\n]+|\s+(?!\S)|\s+)",
      kWhere);
  EXPECT_EQ(matches(llama3, "Héllo wörld 12345 DON'T  x\n\n"),
            (std::vector<std::string>{"Héllo", " wörld", " ", "123", "45", " DON", "'T", " ", " x", "\n\n"}));
  EXPECT_EQ(matches(llama3, "中文，测试"), (std::vector<std::string>{"中文", "，测试"}));
}

TEST(UnicodeRegex, FindMatchesCoversTheTextWithGaps) {
  const UnicodeRegex digits = UnicodeRegex::from_pattern(R"(\p{N}+)", kWhere);
  const std::vector<MatchSpan> spans = digits.find_matches("ab12cd3");
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_FALSE(spans[0].is_match);
  EXPECT_EQ(spans[1].begin, 2u);
  EXPECT_EQ(spans[1].end, 4u);
  EXPECT_TRUE(spans[3].is_match);
  EXPECT_EQ(digits.find_matches("").size(), 1u);  // one empty gap
  // Empty matches: never twice at one place, never right after a match (Oniguruma's iterator).
  const UnicodeRegex maybe_a = UnicodeRegex::from_pattern("a*", kWhere);
  std::vector<std::pair<std::size_t, std::size_t>> got;
  for (const MatchSpan& s : maybe_a.find_matches("baac")) {
    if (s.is_match) got.emplace_back(s.begin, s.end);
  }
  EXPECT_EQ(got, (std::vector<std::pair<std::size_t, std::size_t>>{{0, 0}, {1, 3}, {4, 4}}));
}

TEST(UnicodeRegex, WhitespaceFollowsOniguruma) {
  // Oniguruma's \s is Unicode White_Space: it has U+0085 and not U+180E (which PCRE2's \s includes).
  const UnicodeRegex space = UnicodeRegex::from_pattern(R"(\s)", kWhere);
  EXPECT_EQ(matches(space, "\xC2\x85"), std::vector<std::string>{"\xC2\x85"});
  EXPECT_TRUE(matches(space, "\xE1\xA0\x8E").empty());
  EXPECT_EQ(matches(space, "\xE3\x80\x80").size(), 1u);  // U+3000
  EXPECT_TRUE(matches(space, "\xE2\x80\x8B").empty());   // U+200B is not White_Space
  const UnicodeRegex not_space = UnicodeRegex::from_pattern(R"(\S)", kWhere);
  EXPECT_EQ(matches(not_space, "\xE1\xA0\x8E").size(), 1u);
  const UnicodeRegex negated_class = UnicodeRegex::from_pattern(R"([^\s\p{L}])", kWhere);
  EXPECT_EQ(matches(negated_class, "\xE1\xA0\x8E").size(), 1u);
  EXPECT_TRUE(matches(negated_class, "\xC2\x85").empty());
  const UnicodeRegex space_class = UnicodeRegex::from_pattern(R"([\sx])", kWhere);
  EXPECT_TRUE(matches(space_class, "\xE1\xA0\x8E").empty());
  EXPECT_EQ(matches(space_class, "x").size(), 1u);
  // \h is a hex digit and \v the VT character in Oniguruma.
  EXPECT_EQ(matches(UnicodeRegex::from_pattern(R"(\h+)", kWhere), "x 0fA9 "), std::vector<std::string>{"0fA9"});
  EXPECT_EQ(matches(UnicodeRegex::from_pattern(R"(\v)", kWhere), "\n\v\r").size(), 1u);
}

TEST(UnicodeRegex, LiteralPatternsMatchTheirText) {
  EXPECT_EQ(matches(UnicodeRegex::from_literal("a.b", kWhere), "a.b axb a.b").size(), 2u);
  EXPECT_EQ(matches(UnicodeRegex::from_literal("\xE2\x96\x81", kWhere), "\xE2\x96\x81x\xE2\x96\x81").size(), 2u);
  try {
    UnicodeRegex::from_pattern("[a-", "'f.json' field 'pre_tokenizer.pattern'");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'f.json' field 'pre_tokenizer.pattern'"), std::string::npos) << e.what();
  }
}

TEST(Utf8, FindsTheFirstInvalidByte) {
  EXPECT_EQ(find_invalid_utf8("plain ascii"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("caf\xC3\xA9 \xF0\x9F\xA4\x96"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("ab\x80"), 2u);            // lone continuation byte
  EXPECT_EQ(find_invalid_utf8("ab\xE0\x80\x80"), 2u);    // overlong
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("x\xF0\x9F\xA4"), 1u);     // truncated
  EXPECT_EQ(find_invalid_utf8(std::string("a\0b", 3)), std::string_view::npos);
}

TEST(Utf8, LossyConversionReplacesMaximalSubparts) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(utf8_lossy("ok"), "ok");
  EXPECT_EQ(utf8_lossy("\xF0\x9F\xA4"), fffd);                // one truncated character: one U+FFFD
  EXPECT_EQ(utf8_lossy("\xC0\xAF"), fffd + fffd);             // invalid lead, then a lone continuation
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), fffd + fffd + fffd);  // surrogate: every byte on its own
  EXPECT_EQ(utf8_lossy("a\xE4\xB8"
                       "b"),
            "a" + fffd + "b");
}

TEST(ByteLevelAlphabet, MapsBytesLikeGpt2) {
  const ByteLevelAlphabet& a = ByteLevelAlphabet::get();
  EXPECT_EQ(a.encode('A'), "A");
  EXPECT_EQ(a.encode(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(a.encode('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(a.encode(0xAD), "\xC5\x83");  // U+0143, the last of the 68 remapped bytes
  EXPECT_EQ(a.encode(0xE9), "\xC3\xA9");  // printable Latin-1 maps to itself
  for (int b = 0; b < 256; ++b) {
    std::size_t pos = 0;
    EXPECT_EQ(a.decode(next_code_point(a.encode(static_cast<unsigned char>(b)), &pos)), b);
  }
  EXPECT_EQ(a.decode(0x4E2D), -1);
}

// ---- BPE through small tokenizer.json files ----

Tokenizer tiny(const std::string& name, void (*edit)(Json*)) {
  Json doc = test::tiny_bpe_tokenizer_json();
  if (edit) edit(&doc);
  return Tokenizer::from_file(test::write_tokenizer_json(name, doc));
}

TEST(Bpe, MergesLowestRankFirst) {
  // "b c" has rank 0, so "abc" -> a|bc -> abc; with "a b" first it would end as ab|c (no "ab c" merge).
  EXPECT_EQ(tiny("bpe_rank", nullptr).encode("abc", false), std::vector<int64_t>{5});
  auto ab_first = [](Json* d) { d->at("model")["merges"] = {"a b", "b c", "a bc"}; };
  EXPECT_EQ(tiny("bpe_rank_ab", ab_first).encode("abc", false), (std::vector<int64_t>{3, 2}));
  auto pair_form = [](Json* d) {
    d->at("model")["merges"] =
        Json::array({Json::array({"b", "c"}), Json::array({"a", "b"}), Json::array({"a", "bc"})});
  };
  EXPECT_EQ(tiny("bpe_pairs", pair_form).encode("abc", false), std::vector<int64_t>{5});
  // Overlapping equal pairs merge leftmost first: "aaa" -> aa|a, not a|aa.
  auto repeated = [](Json* d) {
    d->at("model")["vocab"] = {{"a", 0}, {"aa", 1}, {"<bos>", 6}};
    d->at("model")["merges"] = {"a a"};
  };
  EXPECT_EQ(tiny("bpe_leftmost", repeated).encode("aaa", false), (std::vector<int64_t>{1, 0}));
}

TEST(Bpe, IgnoreMergesEmitsWholeVocabularyPieces) {
  // Without a merge path to "abc", merging gives ab|c; ignore_merges takes the vocabulary entry.
  auto no_path = [](Json* d) { d->at("model")["merges"] = {"a b"}; };
  EXPECT_EQ(tiny("bpe_no_ignore", no_path).encode("abc", false), (std::vector<int64_t>{3, 2}));
  auto ignore = [](Json* d) {
    d->at("model")["merges"] = {"a b"};
    d->at("model")["ignore_merges"] = true;
  };
  EXPECT_EQ(tiny("bpe_ignore", ignore).encode("abc", false), std::vector<int64_t>{5});
}

TEST(Bpe, UnknownCharactersFallBackToBytesThenUnk) {
  auto unk = [](Json* d) {
    d->at("model")["vocab"]["<unk>"] = 7;
    d->at("model")["unk_token"] = "<unk>";
  };
  EXPECT_EQ(tiny("bpe_unk", unk).encode("axyb", false), (std::vector<int64_t>{0, 7, 7, 1}));
  auto fused = [](Json* d) {
    d->at("model")["vocab"]["<unk>"] = 7;
    d->at("model")["unk_token"] = "<unk>";
    d->at("model")["fuse_unk"] = true;
  };
  EXPECT_EQ(tiny("bpe_fuse_unk", fused).encode("axyb", false), (std::vector<int64_t>{0, 7, 1}));
  auto bytes = [](Json* d) {
    d->at("model")["vocab"]["<unk>"] = 7;
    d->at("model")["vocab"]["<0xC3>"] = 8;
    d->at("model")["vocab"]["<0xA9>"] = 9;
    d->at("model")["unk_token"] = "<unk>";
    d->at("model")["byte_fallback"] = true;
    d->at("decoder") = {{"type", "Sequence"}, {"decoders", {{{"type", "ByteFallback"}}, {{"type", "Fuse"}}}}};
  };
  const Tokenizer fallback = tiny("bpe_byte_fallback", bytes);
  // "é" is C3 A9: both byte tokens exist; "ü" (C3 BC) lacks <0xBC>, so it becomes unk.
  EXPECT_EQ(fallback.encode("a\xC3\xA9\xC3\xBC", false), (std::vector<int64_t>{0, 8, 9, 7}));
  EXPECT_EQ(fallback.decode({0, 8, 9}), "a\xC3\xA9");
  EXPECT_EQ(fallback.decode({8, 0}),
            "\xEF\xBF\xBD"
            "a");  // a lone lead byte: U+FFFD per byte
  // Without unk_token HF drops the character, so its neighbours become adjacent and merge.
  EXPECT_EQ(tiny("bpe_drop", nullptr).encode("axb", false), std::vector<int64_t>{3});
}

TEST(Bpe, SubwordPrefixAndWordSuffix) {
  auto affixes = [](Json* d) {
    d->at("model")["vocab"] = {{"a", 0}, {"##b", 1}, {"##c</w>", 2}, {"ab", 3}, {"abc</w>", 4}, {"<bos>", 6}};
    d->at("model")["merges"] = {"a ##b", "ab ##c</w>"};
    d->at("model")["continuing_subword_prefix"] = "##";
    d->at("model")["end_of_word_suffix"] = "</w>";
  };
  // a + ##b -> "ab" (the prefix is dropped from the right side), then ab + ##c</w> -> "abc</w>".
  EXPECT_EQ(tiny("bpe_affixes", affixes).encode("abc", false), std::vector<int64_t>{4});
}

TEST(Bpe, LongPiecesWithoutPreTokenizerKeepTheirIds) {
  // No pre-tokenizer: the whole text is one piece and is cut where no merge can cross; the ids must be
  // those of merging it whole. "ab"+"c" and "b"+"c" pairs occur inside tokens, "c|a" never does.
  const Tokenizer tok = tiny("bpe_long", nullptr);
  std::string text;
  std::vector<int64_t> expected;
  for (int i = 0; i < 200; ++i) {
    text += i % 3 == 0 ? "abc" : i % 3 == 1 ? "ab" : "bcbc";
    if (i % 3 == 0) expected.push_back(5);
    if (i % 3 == 1) expected.push_back(3);
    if (i % 3 == 2) expected.insert(expected.end(), {4, 4});
  }
  EXPECT_EQ(tok.encode(text, false), expected);
}

// ---- pre-tokenizers ----

std::vector<std::string> pre_tokenize(const Json& node, const std::string& text) {
  auto pre = parse_pre_tokenizer(node, JsonField("test.json", "pre_tokenizer"));
  std::vector<PreToken> pieces{{text, true}};
  pre->pre_tokenize(&pieces);
  std::vector<std::string> out;
  for (const PreToken& p : pieces) out.push_back(p.text);
  return out;
}

Json split(const Json& pattern, const char* behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", pattern}, {"behavior", behavior}, {"invert", invert}};
}

TEST(PreTokenizers, SplitBehaviors) {
  const Json dash = {{"String", "-"}};
  const std::string text = "a-b--c-";
  using V = std::vector<std::string>;
  EXPECT_EQ(pre_tokenize(split(dash, "Isolated"), text), (V{"a", "-", "b", "-", "-", "c", "-"}));
  EXPECT_EQ(pre_tokenize(split(dash, "Removed"), text), (V{"a", "b", "c"}));
  EXPECT_EQ(pre_tokenize(split(dash, "MergedWithPrevious"), text), (V{"a-", "b-", "-", "c-"}));
  EXPECT_EQ(pre_tokenize(split(dash, "MergedWithNext"), text), (V{"a", "-b", "-", "-c", "-"}));
  EXPECT_EQ(pre_tokenize(split(dash, "Contiguous"), text), (V{"a", "-", "b", "--", "c", "-"}));
  // invert: the non-dashes are the delimiters (each dash stays its own piece).
  EXPECT_EQ(pre_tokenize(split(dash, "Removed", true), text), (V{"-", "-", "-", "-"}));
}

TEST(PreTokenizers, ByteLevelMapsBytesAndOptionallySplits) {
  using V = std::vector<std::string>;
  const Json plain = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  EXPECT_EQ(pre_tokenize(plain, "a b\n"), (V{"a\xC4\xA0"
                                             "b\xC4\x8A"}));
  const Json gpt2 = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  EXPECT_EQ(pre_tokenize(gpt2, "Hi there!"), (V{"\xC4\xA0Hi", "\xC4\xA0there", "!"}));
}

TEST(PreTokenizers, MetaspaceReplacesSpacesAndPrepends) {
  using V = std::vector<std::string>;
  const std::string m = "\xE2\x96\x81";  // ▁
  const Json first = {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "first"}, {"split", true}};
  EXPECT_EQ(pre_tokenize(first, "Hey  you"), (V{m + "Hey", m, m + "you"}));
  const Json never = {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "never"}, {"split", false}};
  EXPECT_EQ(pre_tokenize(never, "Hey you"), (V{"Hey" + m + "you"}));
}

// ---- decoders ----

std::string decode(const Json& node, std::vector<std::string> tokens) {
  auto decoder = parse_decoder(node, JsonField("test.json", "decoder"));
  decoder->decode_chain(&tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

TEST(Decoders, LlamaTwoSequence) {
  const std::string m = "\xE2\x96\x81";
  const Json llama2 = Json::parse(R"({"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "▁"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]})");
  EXPECT_EQ(decode(llama2, {m + "Hello", m + "world", "<0x0A>", "<0xE4>", "<0xB8>", "<0xAD>"}), "Hello world\n中");
  EXPECT_EQ(decode(llama2, {"<0xE4>", "<0xB8>", m + "x"}), "\xEF\xBF\xBD\xEF\xBF\xBD x");
  EXPECT_EQ(decode(llama2, {m + m + "x"}), " x");  // Strip removes one leading space only
}

TEST(Decoders, ByteLevelAndMetaspace) {
  EXPECT_EQ(decode({{"type", "ByteLevel"}}, {"Hello", "\xC4\xA0world", "\xC4\x8A"}), "Hello world\n");
  // A token with characters outside the alphabet contributes its own bytes.
  EXPECT_EQ(decode({{"type", "ByteLevel"}}, {"<\xEF\xBD\x9C>", "\xC4\xA0x"}), "<\xEF\xBD\x9C> x");
  const std::string m = "\xE2\x96\x81";
  const Json meta = {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "always"}};
  EXPECT_EQ(decode(meta, {m + "Hey", m + "you"}), "Hey you");
  const Json never = {{"type", "Metaspace"}, {"replacement", m}, {"prepend_scheme", "never"}};
  EXPECT_EQ(decode(never, {m + "Hey", m + "you"}), " Hey you");
}

}  // namespace
}  // namespace fq::io::tok
