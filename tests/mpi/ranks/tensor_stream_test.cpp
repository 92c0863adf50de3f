#include "cluster/tensor_stream.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cluster/collectives.h"
#include "cluster/tensor_transfer.h"
#include "lib/core/error.h"
#include "tests/mpi/ranks/mpi_test_world.h"

namespace fq::cluster {
namespace {

using test::world;

// The i-th tensor of the stream: shapes, dtypes and sizes vary (3 MiB ones are far above any eager limit,
// so MPI cannot complete their sends before the receiver takes them).
at::Tensor item(int i) {
  at::manual_seed(1000 + i);
  switch (i % 4) {
    case 0: return at::randn({i + 1, 3}, at::kDouble);
    case 1: return at::randint(-50, 50, {i}, at::kLong);
    case 2: return at::randn({768, 1024}, at::kFloat);  // 3 MiB
    default: return at::randn({2, 3, 4}, at::kFloat).transpose(0, 2).to(at::kBFloat16);  // non-contiguous
  }
}

constexpr int kItems = 24;

at::Tensor poll_until_arrived(TensorStream& stream) {
  for (;;) {
    if (at::Tensor t = stream.poll(); t.defined()) return t;
  }
}

// The sender posts everything, then blocks on a send_tensor that rank 0 takes before reading the stream:
// were post() to wait for the receiver, the two ranks would wait on each other forever.
TEST(TensorStream, SenderNeverWaitsAndTheReceiverGetsEverythingInOrder) {
  FQ_REQUIRE_RANKS(2);
  const int sender = world().size() - 1;
  if (world().rank() == sender) {
    TensorStream stream(world(), sender, 0);
    for (int i = 0; i < kItems; ++i) stream.post(item(i));
    send_tensor(world(), at::ones({1}), 0);
    stream.flush();
  } else if (world().rank() == 0) {
    TensorStream stream(world(), sender, 0);
    EXPECT_TRUE(recv_tensor(world(), sender).equal(at::ones({1})));
    for (int i = 0; i < kItems; ++i) {
      const at::Tensor got = i % 2 ? stream.next() : poll_until_arrived(stream);
      const at::Tensor want = item(i);
      EXPECT_EQ(got.scalar_type(), want.scalar_type()) << i;
      EXPECT_TRUE(got.equal(want)) << "item " << i;
    }
    EXPECT_FALSE(stream.poll().defined());
  }
  barrier(world());
}

TEST(TensorStream, RefusesWrongRanksAndDevices) {
  FQ_REQUIRE_RANKS(2);
  EXPECT_THROW(TensorStream(world(), 0, 0), Error);
  EXPECT_THROW(TensorStream(world(), 0, world().size()), Error);
  if (world().rank() == 0) {
    TensorStream stream(world(), 1, 0);
    EXPECT_THROW(stream.post(at::ones({2})), Error);  // rank 0 receives on this stream
  }
}

}  // namespace
}  // namespace fq::cluster
