// CUDA W4A4 GEMM kernels (mma.sync and wgmma) against the exact CPU reference: the integer sums must be
// equal, and so must the bf16 outputs (the epilogue is the same float32 operations).
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/int4_pack.h"
#include "kernels/w4a4_gemm_ops.h"
#include "lib/core/error.h"
#include "tests/support/cuda_required.h"
#include "tests/support/kernel_inputs.h"

#ifdef FLATQUANT_HAVE_CUDA
#include "kernels/cuda/w4a4_gemm.cuh"
#endif

namespace fq::kernels {
namespace {

PackedInt4Rows make_rows(int64_t m, int64_t k, bool symmetric, uint64_t seed) {
  PackedInt4Rows a;
  const at::Tensor codes = symmetric ? fq::test::random_codes({m, k}, -8, 7, seed)
                                     : fq::test::random_codes({m, k}, 0, 15, seed);
  a.packed = pack_int4(codes, symmetric);
  a.scale = (at::rand({m}, at::kFloat) * 0.05 + 0.001).contiguous();
  if (!symmetric) a.zero = fq::test::random_codes({m}, 0, 15, seed + 1).to(at::kFloat);
  a.cols = k;
  a.symmetric = symmetric;
  return a;
}

PackedInt4Rows to_cuda(const PackedInt4Rows& a) {
  PackedInt4Rows g = a;
  g.packed = a.packed.to(at::kCUDA);
  g.scale = a.scale.to(at::kCUDA);
  if (a.zero.defined()) g.zero = a.zero.to(at::kCUDA);
  return g;
}

Int4Weight to_cuda(const Int4Weight& w) {
  Int4Weight g = w;
  g.packed = w.packed.to(at::kCUDA);
  g.scale = w.scale.to(at::kCUDA);
  g.rowsum = w.rowsum.to(at::kCUDA);
  return g;
}

std::vector<W4A4Kernel> kernels_to_test() {
  std::vector<W4A4Kernel> k = {W4A4Kernel::kMmaSync};
#ifdef FLATQUANT_HAVE_CUDA
  if (gpu::wgmma_available()) k.push_back(W4A4Kernel::kWgmma);
#endif
  return k;
}

const char* name(W4A4Kernel k) { return k == W4A4Kernel::kWgmma ? "wgmma" : "mma.sync"; }

void check_dense(int64_t m, int64_t n, int64_t k, bool symmetric, bool with_bias, uint64_t seed) {
  const PackedInt4Rows a = make_rows(m, k, symmetric, seed);
  const Int4Weight w =
      make_int4_weight(fq::test::random_codes({n, k}, -8, 7, seed + 2), (at::rand({n}, at::kFloat) * 0.05).contiguous());
  const at::Tensor bias = with_bias ? at::randn({n}, at::kFloat) : at::Tensor();
  const at::Tensor acc_ref = w4a4_accumulators(a, w);
  const at::Tensor y_ref = w4a4_gemm(a, w, bias);
  const PackedInt4Rows ag = to_cuda(a);
  const Int4Weight wg = to_cuda(w);
  const at::Tensor bias_g = with_bias ? bias.to(at::kCUDA) : at::Tensor();
  for (W4A4Kernel kernel : kernels_to_test()) {
    const std::string what = std::string(name(kernel)) + " M=" + std::to_string(m) + " N=" + std::to_string(n) +
                             " K=" + std::to_string(k) + (symmetric ? " sym" : " asym") + (with_bias ? " +bias" : "");
    const at::Tensor acc = w4a4_accumulators(ag, wg, at::Tensor(), kernel).cpu();
    ASSERT_TRUE(at::equal(acc, acc_ref)) << what << ": integer sums differ at "
                                         << acc.ne(acc_ref).nonzero().slice(0, 0, 3);
    const at::Tensor y = w4a4_gemm(ag, wg, bias_g, at::Tensor(), kernel).cpu();
    EXPECT_TRUE(at::equal(y, y_ref)) << what << ": bf16 outputs differ";
  }
}

// Every kernel against the exact CPU reference on experts laid out by `offsets_v` (rows sorted by expert).
void check_grouped(const std::vector<int64_t>& offsets_v, int64_t n, int64_t k, uint64_t seed) {
  const int64_t experts = static_cast<int64_t>(offsets_v.size()) - 1;
  const int64_t m = offsets_v.back();
  const at::Tensor offsets = at::tensor(offsets_v, at::kLong);
  for (bool symmetric : {true, false}) {
    const PackedInt4Rows a = make_rows(m, k, symmetric, seed += 10);
    const Int4Weight w = make_int4_weight(fq::test::random_codes({experts, n, k}, -8, 7, seed + 3),
                                          (at::rand({experts, n}, at::kFloat) * 0.05).contiguous());
    const at::Tensor acc_ref = w4a4_accumulators(a, w, offsets);
    const at::Tensor y_ref = w4a4_gemm(a, w, at::Tensor(), offsets);
    for (W4A4Kernel kernel : kernels_to_test()) {
      const std::string what = std::string(name(kernel)) + " experts=" + std::to_string(experts) + " M=" +
                               std::to_string(m) + " K=" + std::to_string(k) + (symmetric ? " sym" : " asym");
      const at::Tensor offsets_g = offsets.to(at::kCUDA);
      EXPECT_TRUE(at::equal(w4a4_accumulators(to_cuda(a), to_cuda(w), offsets_g, kernel).cpu(), acc_ref)) << what;
      EXPECT_TRUE(at::equal(w4a4_gemm(to_cuda(a), to_cuda(w), at::Tensor(), offsets_g, kernel).cpu(), y_ref))
          << what;
    }
  }
}

TEST(W4A4GemmGpu, DenseMatchesExactReferenceAcrossTileEdges) {
  FQ_REQUIRE_CUDA();
  uint64_t seed = 500;
  for (int64_t m : {1, 16, 17, 130, 256, 300}) {
    for (bool symmetric : {true, false}) {
      check_dense(m, 264, 96, symmetric, m % 2 == 0, seed += 10);   // N and K not multiples of the tiles
      check_dense(m, 1024, 8192, symmetric, false, seed += 10);     // a LLaMA-70B K
    }
  }
}

TEST(W4A4GemmGpu, LargestKAndManyRowTilesStayExact) {
  FQ_REQUIRE_CUDA();
  check_dense(64, 256, 28672, true, false, 900);    // down_proj K of LLaMA-70B
  check_dense(64, 256, 28672, false, true, 910);
  check_dense(2048, 512, 1024, true, true, 920);    // several row tiles of every kernel
}

// More tiles than an H100/H200 has SMs (132), so that each persistent wgmma CTA walks several tiles and
// its ring of stages runs on from one tile into the next: K of 2 steps (the second a partial box) and of
// 5 steps (not a multiple of the 4 stages), dense and grouped.
TEST(W4A4GemmGpu, PersistentCtasWalkManyTilesExactly) {
  FQ_REQUIRE_CUDA();
  check_dense(2560, 5120, 160, true, true, 950);   // 20 x 20 tiles of 128 x 256
  check_dense(2560, 5120, 640, false, false, 960);
  std::vector<int64_t> offsets_v = {0};
  for (int64_t e = 0; e < 256; ++e) offsets_v.push_back(offsets_v.back() + (e * 37) % 300);
  check_grouped(offsets_v, 512, 160, 970);
}

TEST(W4A4GemmGpu, GroupedMatchesExactReference) {
  FQ_REQUIRE_CUDA();
  const int64_t n = 256, k = 512;
  // Experts with no rows, one row, and more rows than a tile; then 256 experts as in DeepSeek V3 (several
  // 32-expert chunks of the tile table's running sums).
  const std::vector<std::vector<int64_t>> layouts = {
      {0, 0, 1, 40, 40, 200, 201, 201, 350},
  };
  std::vector<int64_t> many = {0};
  for (int64_t e = 0; e < 256; ++e) many.push_back(many.back() + (e * 7) % 13);
  std::vector<std::vector<int64_t>> all = layouts;
  all.push_back(many);
  uint64_t seed = 700;
  for (const auto& offsets_v : all) check_grouped(offsets_v, n, k, seed += 20);
}

TEST(W4A4GemmGpu, RejectsShapesTheKernelsCannotRun) {
  FQ_REQUIRE_CUDA();
  const PackedInt4Rows a = to_cuda(make_rows(4, 48, true, 1));  // K % 32 != 0
  const Int4Weight w = to_cuda(make_int4_weight(fq::test::random_codes({8, 48}, -8, 7, 2), at::ones({8}, at::kFloat)));
  try {
    w4a4_gemm(a, w);
    FAIL() << "expected an error";
  } catch (const fq::Error& e) {
    EXPECT_NE(std::string(e.what()).find("K = 48"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fq::kernels
