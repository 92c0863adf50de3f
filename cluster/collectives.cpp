#include "cluster/collectives.h"

#include <mpi.h>

#include <array>

#include "cluster/chunked_transfer.h"
#include "cluster/mpi_check.h"
#include "cluster/mpi_world.h"
#include "lib/core/error.h"

namespace fq::cluster {
namespace {

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return MPI_SUM;
    case ReduceOp::kMax: return MPI_MAX;
    case ReduceOp::kMin: return MPI_MIN;
  }
  FQ_ASSERT(false, "unknown ReduceOp");
}

// The length check costs one extra small all-reduce; a mismatch would otherwise corrupt memory silently.
template <typename T>
std::vector<T> allreduce_values(const MpiWorld& world, const std::vector<T>& values, MPI_Datatype type, ReduceOp op) {
  std::array<long long, 2> count_range = {static_cast<long long>(values.size()), -static_cast<long long>(values.size())};
  MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, count_range.data(), 2, MPI_LONG_LONG, MPI_MAX, world.comm()));
  FQ_CHECK(count_range[0] == -count_range[1], "allreduce: ranks passed different numbers of values (between ",
           -count_range[1], " and ", count_range[0], "; rank ", world.rank(), " passed ", values.size(), ")");
  std::vector<T> result(values.size());
  MPI_CHECK(MPI_Allreduce(values.data(), result.data(), static_cast<int>(values.size()), type, mpi_op(op), world.comm()));
  return result;
}

}  // namespace

void barrier(const MpiWorld& world) { MPI_CHECK(MPI_Barrier(world.comm())); }

std::string broadcast_bytes(const MpiWorld& world, const std::string& bytes, int root) {
  std::array<unsigned long long, 2> header = {bytes.size(), mpi_chunk_bytes()};  // size, chunk
  MPI_CHECK(MPI_Bcast(header.data(), 2, MPI_UNSIGNED_LONG_LONG, root, world.comm()));
  std::string result = world.rank() == root ? bytes : std::string(header[0], '\0');
  broadcast_chunked(world, result.data(), result.size(), header[1], root);
  return result;
}

std::vector<std::string> gather_bytes(const MpiWorld& world, const std::string& bytes, int root) {
  if (world.rank() != root) {
    std::array<unsigned long long, 2> header = {bytes.size(), mpi_chunk_bytes()};
    MPI_CHECK(MPI_Send(header.data(), 2, MPI_UNSIGNED_LONG_LONG, root, kTagBytesHeader, world.comm()));
    send_chunked(world, bytes.data(), bytes.size(), header[1], root, kTagBytes);
    return {};
  }
  std::vector<std::string> all(world.size());
  for (int src = 0; src < world.size(); ++src) {
    if (src == root) {
      all[src] = bytes;
      continue;
    }
    std::array<unsigned long long, 2> header{};
    MPI_CHECK(MPI_Recv(header.data(), 2, MPI_UNSIGNED_LONG_LONG, src, kTagBytesHeader, world.comm(), MPI_STATUS_IGNORE));
    all[src].resize(header[0]);
    recv_chunked(world, all[src].data(), all[src].size(), header[1], src, kTagBytes);
  }
  return all;
}

std::vector<double> allreduce(const MpiWorld& world, const std::vector<double>& values, ReduceOp op) {
  return allreduce_values(world, values, MPI_DOUBLE, op);
}

std::vector<std::int64_t> allreduce(const MpiWorld& world, const std::vector<std::int64_t>& values, ReduceOp op) {
  return allreduce_values(world, values, MPI_INT64_T, op);
}

}  // namespace fq::cluster
