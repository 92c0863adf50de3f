#include "cluster/tensor_transfer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cluster/collectives.h"
#include "cluster/tensor_allreduce.h"
#include "lib/core/error.h"
#include "tests/mpi/ranks/mpi_test_world.h"

namespace fq::cluster {
namespace {

using test::world;

// What each rank of the chain does to the activations before handing them on: a stand-in for a layer.
// The last rank recomputes the whole chain with the same ops in the same dtype, so results match exactly.
at::Tensor stage(const at::Tensor& x, int rank) { return x * 0.5 + static_cast<double>(rank); }

// The chain of the full-precision forward: rank 0 makes the activations, every rank applies its stage
// and sends to the next, the last rank checks against the whole chain computed locally.
void run_chain(c10::ScalarType dtype, std::int64_t tokens, std::int64_t hidden) {
  const int rank = world().rank(), size = world().size();
  at::manual_seed(20240607);
  const at::Tensor input = at::randn({tokens, hidden}).to(dtype);  // same on every rank (same seed)
  at::Tensor x = rank == 0 ? input : recv_tensor(world(), rank - 1);
  EXPECT_EQ(x.scalar_type(), dtype);
  EXPECT_EQ(x.sizes(), input.sizes());
  x = stage(x, rank);
  if (rank + 1 < size) {
    send_tensor(world(), x, rank + 1);
    return;
  }
  at::Tensor expected = input;
  for (int r = 0; r < size; ++r) expected = stage(expected, r);
  // Bit-exact: the transfer must not change a single byte.
  EXPECT_TRUE(at::equal(x, expected)) << "chain of " << size << " ranks changed the " << c10::toString(dtype)
                                      << " activations";
}

TEST(TensorTransfer, ChainAcrossRanksBfloat16) {
  FQ_REQUIRE_RANKS(2);
  run_chain(c10::ScalarType::BFloat16, 1024, 2048);  // 4 MiB: several 1 MiB chunks under ctest
}

TEST(TensorTransfer, ChainAcrossRanksFloat32) {
  FQ_REQUIRE_RANKS(2);
  run_chain(c10::ScalarType::Float, 777, 1531);  // 4.5 MiB, a last partial chunk
}

TEST(TensorTransfer, ShapesDtypesAndLayoutsSurvive) {
  FQ_REQUIRE_RANKS(2);
  const int last = world().size() - 1;
  at::manual_seed(99);
  const at::Tensor wide = at::randn({6, 5, 4}, at::kDouble);
  const std::vector<at::Tensor> cases = {
      wide.transpose(0, 2),                      // non-contiguous
      at::randint(-1000, 1000, {3, 7}, at::kLong),
      at::empty({0, 16}, at::kFloat),            // no elements
      at::scalar_tensor(3.25, at::kHalf),         // zero dimensions
      at::randint(0, 2, {9}, at::kBool),
  };
  for (const at::Tensor& t : cases) {
    if (world().rank() == 0) send_tensor(world(), t, last);
    if (world().rank() == last) {
      const at::Tensor got = recv_tensor(world(), 0);
      EXPECT_EQ(got.sizes(), t.sizes());
      EXPECT_EQ(got.scalar_type(), t.scalar_type());
      EXPECT_TRUE(got.is_contiguous());
      EXPECT_TRUE(at::equal(got, t));
    }
  }
}

TEST(TensorTransfer, BadPeersAreRefused) {
  EXPECT_THROW(send_tensor(world(), at::ones({2}), world().rank()), Error);
  EXPECT_THROW(recv_tensor(world(), world().size()), Error);
}

TEST(TensorAllreduce, SumsFloat32Bfloat16Int64AndNonContiguousTensors) {
  const int n = world().size(), r = world().rank();
  // float32: each rank adds (rank + 1) * base; the sum is base * n(n+1)/2, exact for these small integers.
  const at::Tensor base = at::arange(0, 3000, at::kFloat).reshape({30, 100});
  at::Tensor f = base * static_cast<float>(r + 1);
  allreduce_sum_(world(), f);
  EXPECT_TRUE(at::equal(f, base * static_cast<float>(n * (n + 1) / 2)));

  at::Tensor b = at::full({5, 8}, 0.5 * (r + 1), at::kBFloat16);  // sums of halves are exact in bf16 here
  allreduce_sum_(world(), b);
  EXPECT_EQ(b.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(b, at::full({5, 8}, 0.25 * n * (n + 1), at::kBFloat16)));

  at::Tensor i = at::full({4}, (std::int64_t{1} << 40) + r, at::kLong);
  allreduce_sum_(world(), i);
  EXPECT_TRUE(at::equal(i, at::full({4}, (std::int64_t{1} << 40) * n + n * (n - 1) / 2, at::kLong)));

  at::Tensor m = at::ones({6, 4}, at::kDouble).t();  // non-contiguous view: the sum lands in the view
  allreduce_sum_(world(), m);
  EXPECT_TRUE(at::equal(m, at::full({4, 6}, static_cast<double>(n), at::kDouble)));
}

TEST(TensorAllreduce, MismatchedShapesFailOnEveryRank) {
  FQ_REQUIRE_RANKS(2);
  at::Tensor t = at::ones({world().rank() == 0 ? 3 : 4});
  EXPECT_THROW(allreduce_sum_(world(), t), Error);
  barrier(world());
}

}  // namespace
}  // namespace fq::cluster
