#include "cluster/collectives.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "cluster/chunked_transfer.h"
#include "cluster/run_lock.h"
#include "cluster/stop_signals.h"
#include "flatquant_build_info.h"
#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/core/stop_flag.h"
#include "tests/mpi/ranks/mpi_test_world.h"

namespace fq::cluster {
namespace {

using test::world;

// Distinct, rank-dependent bytes of a given length (all 256 byte values occur).
std::string payload(int rank, std::size_t length) {
  std::string s(length, '\0');
  for (std::size_t i = 0; i < length; ++i) s[i] = static_cast<char>((i * 131 + rank * 17 + 7) & 0xff);
  return s;
}

TEST(MpiWorld, RanksAndNodeLayoutAreConsistent) {
  const MpiWorld& w = world();
  EXPECT_GE(w.rank(), 0);
  EXPECT_LT(w.rank(), w.size());
  EXPECT_EQ(w.is_root(), w.rank() == 0);
  EXPECT_FALSE(w.hostname().empty());
  ASSERT_EQ(static_cast<int>(w.node_of_rank().size()), w.size());
  // All ranks of this test run on one host.
  EXPECT_EQ(w.node_count(), 1);
  EXPECT_EQ(w.local_size(), w.size());
  EXPECT_EQ(w.local_rank(), w.rank());
  // The log prefix follows the rank.
  EXPECT_EQ(log::rank(), w.rank());
  EXPECT_EQ(log::world_size(), w.size());
}

TEST(Collectives, BroadcastBytesOfManySizes) {
  // With FLATQUANT_MPI_CHUNK_BYTES=1 MiB (ctest sets it) the 3 MiB + 5 payload goes in four chunks.
  for (std::size_t length : {std::size_t{0}, std::size_t{1}, std::size_t{4096}, (std::size_t{3} << 20) + 5}) {
    const std::string sent = world().rank() == 0 ? payload(0, length) : std::string("ignored");
    const std::string got = broadcast_bytes(world(), sent, 0);
    EXPECT_EQ(got, payload(0, length)) << "length " << length;
  }
  if (world().size() > 1) {
    const int root = world().size() - 1;
    EXPECT_EQ(broadcast_bytes(world(), payload(world().rank(), 100), root), payload(root, 100));
  }
}

TEST(Collectives, GatherBytesReturnsEveryRanksPayloadOnRoot) {
  // Rank r sends r MiB + r bytes (rank 0 an empty payload).
  const std::size_t mine = (static_cast<std::size_t>(world().rank()) << 20) + world().rank();
  const std::vector<std::string> all = gather_bytes(world(), payload(world().rank(), mine), 0);
  if (world().rank() != 0) {
    EXPECT_TRUE(all.empty());
    return;
  }
  ASSERT_EQ(static_cast<int>(all.size()), world().size());
  for (int r = 0; r < world().size(); ++r) {
    EXPECT_EQ(all[r], payload(r, (static_cast<std::size_t>(r) << 20) + r)) << "rank " << r;
  }
}

TEST(Collectives, AllreduceSumMaxMin) {
  const int n = world().size(), r = world().rank();
  const std::vector<double> d = {1.5 * r, -static_cast<double>(r), 0.25};
  EXPECT_EQ(allreduce(world(), d, ReduceOp::kSum), (std::vector<double>{1.5 * n * (n - 1) / 2, -n * (n - 1) / 2.0, 0.25 * n}));
  EXPECT_EQ(allreduce(world(), d, ReduceOp::kMax), (std::vector<double>{1.5 * (n - 1), 0.0, 0.25}));
  EXPECT_EQ(allreduce(world(), d, ReduceOp::kMin), (std::vector<double>{0.0, -(n - 1.0), 0.25}));
  const std::int64_t big = std::int64_t{1} << 40;  // beyond int32
  const std::vector<std::int64_t> i = {big + r, r};
  EXPECT_EQ(allreduce(world(), i, ReduceOp::kSum),
            (std::vector<std::int64_t>{big * n + n * (n - 1) / 2, n * (n - 1) / 2}));
  EXPECT_EQ(allreduce(world(), i, ReduceOp::kMax), (std::vector<std::int64_t>{big + n - 1, n - 1}));
}

TEST(Collectives, AllreduceWithDifferentLengthsFailsOnEveryRank) {
  FQ_REQUIRE_RANKS(2);
  const std::vector<double> values(world().rank() == 1 ? 3 : 2, 1.0);
  EXPECT_THROW(allreduce(world(), values, ReduceOp::kSum), Error);
  barrier(world());  // still in step afterwards
}

TEST(Collectives, ChunkSizeComesFromTheEnvironment) {
  const char* env = std::getenv("FLATQUANT_MPI_CHUNK_BYTES");
  if (env == nullptr) GTEST_SKIP() << "FLATQUANT_MPI_CHUNK_BYTES is not set (ctest sets it to exercise chunking)";
  EXPECT_EQ(mpi_chunk_bytes(), std::stoull(env));
}

TEST(StopSignals, OneRanksStopIsSeenByEveryRank) {
  install_stop_signal_handlers();
  clear_stop();
  EXPECT_FALSE(any_rank_stop_requested(world()));
  const int asker = world().size() - 1;
  if (world().rank() == asker) request_stop(SIGUSR1);
  EXPECT_TRUE(any_rank_stop_requested(world()));
  EXPECT_TRUE(stop_requested()) << "the flag must be set on every rank";
  EXPECT_EQ(stop_signal(), SIGUSR1);
  barrier(world());
  clear_stop();
  EXPECT_FALSE(any_rank_stop_requested(world()));
}

TEST(RunLockCollective, RootHoldsTheLockAndRefusalReachesEveryRank) {
  const std::string dir = std::string(FLATQUANT_BINARY_DIR) + "/test-scratch/mpi_run_lock_" + std::to_string(world().size());
  if (world().is_root()) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  barrier(world());
  {
    std::optional<RunLock> lock = lock_run_directory(world(), dir);
    EXPECT_EQ(lock.has_value(), world().is_root());
    // A second job on the same directory (simulated: the lock is held by rank 0 of this job, alive).
    try {
      lock_run_directory(world(), dir);
      ADD_FAILURE() << "the second lock must be refused on every rank";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("in use by pid"), std::string::npos) << e.what();
    }
    barrier(world());
  }
  barrier(world());
  if (world().is_root()) {
    EXPECT_FALSE(std::filesystem::exists(dir + "/.flatquant.lock"));
  }
}

}  // namespace
}  // namespace fq::cluster
