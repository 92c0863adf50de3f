// The synthetic tokenizer's BPE trainer, run on the corpus the shared models were trained on with their
// vocabulary size, reproduces the shared tokenizer.json (made with Hugging Face tokenizers) exactly: the
// same 3838 merges in the same order, the same vocabulary, the same pipeline.
#include <gtest/gtest.h>

#include "lib/core/atomic_file.h"
#include "lib/model/synthetic_tokenizer.h"
#include "tests/support/shared_dir.h"

namespace fq::model {
namespace {

TEST(SyntheticTokenizerParity, KjvTrainingReproducesTheSharedTokenizer) {
  FQ_REQUIRE_SHARED();
  const Json shared = read_json_file(test::shared_path("models/tokenizer/tokenizer.json"));
  const int64_t vocab = static_cast<int64_t>(shared["model"]["vocab"].size());
  const std::string corpus_path = test::shared_path("data/kjv/kjv.train.txt");
  const std::vector<BpeMerge> merges = train_byte_level_bpe(read_file(corpus_path), vocab - 258, corpus_path);
  const Json ours = byte_level_bpe_tokenizer(merges);
  const Json& a = ours["model"]["merges"];
  const Json& b = shared["model"]["merges"];
  std::size_t same = 0;
  while (same < a.size() && same < b.size() && a[same] == b[same]) ++same;
  std::printf("[tokenizer parity] %zu of %zu merges identical in order\n", same, b.size());
  EXPECT_EQ(same, b.size());
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(ours, shared) << "the whole tokenizer.json";
}

}  // namespace
}  // namespace fq::model
