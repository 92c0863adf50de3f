// flatquant's tokenizer against HF tokenizers on the real tokenizer files: tests/data/tokenizer_goldens/
// <case>.json, written by scripts/make_tokenizer_goldens.py on a machine with the Python `tokenizers`
// package. Skips, saying how to make them, while the goldens or the tokenizer files are absent.
#include <fstream>

#include <gtest/gtest.h>

#include "lib/io/tokenizer.h"
#include "tests/unit/io/tokenizer_test_support.h"

namespace fq::io {
namespace {

using Ids = std::vector<int64_t>;

class TokenizerGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizerGolden, MatchesHfTokenizers) {
  const std::string golden_path = test::tokenizer_test_data(std::string("tokenizer_goldens/") + GetParam() + ".json");
  if (!std::ifstream(golden_path)) {
    GTEST_SKIP() << "golden file '" << golden_path << "' is missing: make it where the Python tokenizers package "
                 << "is installed with `python3 scripts/make_tokenizer_goldens.py` (after scripts/fetch_tokenizers.sh)";
  }
  const Json golden = read_json_file(golden_path);
  const std::string name = golden.at("tokenizer").get<std::string>();
  FQ_REQUIRE_REAL_TOKENIZER(name);
  const std::string dir = test::real_tokenizer_dir(name);
  std::string json_path = dir + "/tokenizer.json";
  if (!golden.at("overrides").is_null()) {  // a variant: the same component replacement the generator made
    Json doc = read_json_file(json_path);
    for (const auto& [key, value] : golden.at("overrides").items()) doc[key] = value;
    json_path = test::write_tokenizer_json(std::string("tokenizer_golden_") + GetParam(), doc);
  }
  const Tokenizer tok = Tokenizer::from_file(json_path);
  EXPECT_EQ(tok.vocab_size(), golden.at("vocab_size_with_added").get<int64_t>());
  std::optional<Tokenizer> from_dir;
  const Json& cases = golden.at("cases");
  ASSERT_FALSE(cases.empty());
  for (const Json& c : cases) {
    const std::string text = c.at("text").get<std::string>();
    SCOPED_TRACE(text.substr(0, 80));
    const Ids ids = c.at("ids").get<Ids>();
    EXPECT_EQ(tok.encode(text, true), ids);
    EXPECT_EQ(tok.encode(text, false), c.at("ids_no_special").get<Ids>());
    EXPECT_EQ(tok.decode(ids, false), c.at("decoded").get<std::string>());
    EXPECT_EQ(tok.decode(ids, true), c.at("decoded_skip_special").get<std::string>());
    const auto singles = c.at("single_id_decodes").get<std::vector<std::string>>();
    ASSERT_EQ(singles.size(), ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(tok.decode({ids[i]}), singles[i]) << "id " << ids[i];
    if (c.contains("transformers_ids")) {  // recorded when transformers was available to the generator
      if (!from_dir) from_dir = Tokenizer::from_model_dir(dir);
      EXPECT_EQ(from_dir->encode(text, true), c.at("transformers_ids").get<Ids>()) << "from_model_dir";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(RealTokenizers, TokenizerGolden,
                         ::testing::Values("llama3", "deepseek_v3", "llama2", "llama2_metaspace",
                                           "llama3_gpt2_bytelevel", "llama3_split_behaviors"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace fq::io
