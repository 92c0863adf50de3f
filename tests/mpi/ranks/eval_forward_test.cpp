// The pipelined evaluation forward over the ranks of this test (2 or 3) against the layer-by-layer walk of
// one rank: walks of different lengths, with and without a shared prefix, one with groups of rows after
// their own stems (a stemless group among them), cut into micro-batches that do not divide them, give the
// same row results bit for bit, in order, on rank 0; the prefixed rows and the rows after a prefix and a
// stem give those of their whole sequences up to float summation order.
#include "pipelines/evaluate/eval_forward.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>

#include "tests/mpi/ranks/mpi_test_world.h"
#include "tests/support/numbered_rows.h"
#include "tests/support/shared_dir.h"

namespace fq::pipelines {
namespace {

using test::world;

// Prefixed rows against their whole sequences, relative L2 of the last position's logits (RTN W4A4 fake:
// per-token quantizers, so only float summation order differs, unless it moves a 4-bit code; measured
// 1.6e-7 on tiny-llama3, 2.2e-7 on tiny-deepseek-v3; a wrong position or key moves them by ~1).
constexpr double kPrefixedVsWholeTol = 1e-4;

TEST(EvalForward, PipelineGivesTheRowsOfTheLayerByLayerWalk) {
  FQ_REQUIRE_RANKS(2);
  FQ_REQUIRE_SHARED();
  for (const std::string name : {"tiny-llama3", "tiny-deepseek-v3"}) {
    const io::Checkpoint checkpoint(test::shared_path("models/" + name));
    const QuantConfig w4a4;
    model::ModelOptions options;
    options.micro_batch = 3;
    at::manual_seed(5);
    const int64_t vocab = checkpoint.config().vocab_size;
    auto tokens = [&](std::vector<int64_t> shape) { return at::randint(0, vocab, shape, at::kLong); };
    const at::Tensor prefix = tokens({17}), other_prefix = tokens({9});
    const at::Tensor prefixed_rows = tokens({5, 6});
    const at::Tensor stem = tokens({6}), stemmed_rows = tokens({7, 4});
    // Rows 0-6 whole, 7-11 after `prefix`, 12-13 after `other_prefix`, 14-17 whole, 18-24 after `prefix` in
    // groups of 4 (after `stem`), 1 (no stem) and 2 (after another stem): micro-batches of 3, 1, 1, 2.
    const std::vector<TokenWalk> walks = {
        {{at::Tensor(), tokens({7, 13})}, {prefix, prefixed_rows}},
        {{other_prefix, tokens({2, 21})}},
        {{at::Tensor(), tokens({4, 5})}, {prefix, stemmed_rows, {stem, at::Tensor(), tokens({3})}, {4, 1, 2}}}};
    EvalModel pipelined_model(checkpoint, EvalMethod::kRtn, "", w4a4, flat::QuantBackend::kFake);
    EvalForward pipeline(checkpoint, pipelined_model, options, LayerResidency::kAuto, &world());
    EXPECT_EQ(pipeline.ranks(), world().size());
    const at::Tensor got = pipeline.run(walks, test::numbered_last_logits);
    const flat::WeightMemory memory = pipeline.weight_memory();
    if (!world().is_root()) {
      EXPECT_FALSE(got.defined());
      continue;
    }
    EvalModel walked_model(checkpoint, EvalMethod::kRtn, "", w4a4, flat::QuantBackend::kFake);
    EvalForward walk(checkpoint, walked_model, options, LayerResidency::kStream);
    const at::Tensor want = walk.run(walks, test::numbered_last_logits);
    ASSERT_EQ(got.sizes(), want.sizes()) << name;
    EXPECT_TRUE(at::equal(got.select(1, 0), at::arange(25, at::kDouble))) << name << ": rows out of order";
    EXPECT_TRUE(at::equal(got, want)) << name << ": max difference " << (got - want).abs().max().item<double>();
    // The prefix is used: the rows after it score as their whole sequences would.
    const at::Tensor whole_ids = at::cat({prefix.unsqueeze(0).expand({5, 17}), prefixed_rows}, 1);
    const at::Tensor whole = walk.run({TokenWalk{{at::Tensor(), whole_ids}}}, test::numbered_last_logits);
    const at::Tensor a = got.narrow(0, 7, 5).narrow(1, 1, vocab), b = whole.narrow(1, 1, vocab);
    const double rel = ((a - b).norm() / b.norm()).item<double>();
    std::printf("[ measure  ] %s: prefixed rows vs whole sequences, relative L2 of the logits %.2e\n", name.c_str(),
                rel);
    EXPECT_LT(rel, kPrefixedVsWholeTol) << name;
    // The stem is used: the rows of its group score as their whole sequences would.
    const at::Tensor stemmed_whole_ids = at::cat(
        {prefix.unsqueeze(0).expand({4, 17}), stem.unsqueeze(0).expand({4, 6}), stemmed_rows.narrow(0, 0, 4)}, 1);
    const at::Tensor stemmed_whole = walk.run({TokenWalk{{at::Tensor(), stemmed_whole_ids}}}, test::numbered_last_logits);
    const at::Tensor c = got.narrow(0, 18, 4).narrow(1, 1, vocab), d = stemmed_whole.narrow(1, 1, vocab);
    const double stem_rel = ((c - d).norm() / d.norm()).item<double>();
    std::printf("[ measure  ] %s: rows after a prefix and a stem vs whole sequences, relative L2 of the logits %.2e\n",
                name.c_str(), stem_rel);
    EXPECT_LT(stem_rel, kPrefixedVsWholeTol) << name;
    // Every layer counted once, whichever rank holds it.
    EXPECT_EQ(memory.fake_linears, walk.weight_memory().fake_linears) << name;
    EXPECT_GT(memory.fake_linears, 0) << name;
  }
}

}  // namespace
}  // namespace fq::pipelines
