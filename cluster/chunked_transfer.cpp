#include "cluster/chunked_transfer.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include "cluster/mpi_check.h"
#include "cluster/mpi_world.h"
#include "lib/core/error.h"

namespace fq::cluster {
namespace {

constexpr std::size_t kDefaultChunkBytes = std::size_t{1} << 30;
constexpr std::size_t kMaxChunkBytes = (std::size_t{1} << 31) - 1;  // MPI counts are int

int chunk_count(std::size_t offset, std::size_t bytes, std::size_t chunk_bytes) {
  return static_cast<int>(std::min(chunk_bytes, bytes - offset));
}

}  // namespace

std::size_t mpi_chunk_bytes() {
  static const std::size_t chunk = [] {
    const char* env = std::getenv("FLATQUANT_MPI_CHUNK_BYTES");
    if (env == nullptr || *env == '\0') return kDefaultChunkBytes;
    char* end = nullptr;
    unsigned long long value = std::strtoull(env, &end, 10);
    FQ_CHECK(end != env && *end == '\0' && value > 0 && value <= kMaxChunkBytes,
             "FLATQUANT_MPI_CHUNK_BYTES='", env, "' must be a byte count in [1, ", kMaxChunkBytes, "]");
    return static_cast<std::size_t>(value);
  }();
  return chunk;
}

void send_chunked(const MpiWorld& world, const void* data, std::size_t bytes, std::size_t chunk_bytes, int dst,
                  int tag) {
  FQ_ASSERT(chunk_bytes > 0 && chunk_bytes <= kMaxChunkBytes);
  const char* p = static_cast<const char*>(data);
  for (std::size_t offset = 0; offset < bytes; offset += chunk_bytes) {
    MPI_CHECK(MPI_Send(p + offset, chunk_count(offset, bytes, chunk_bytes), MPI_BYTE, dst, tag, world.comm()));
  }
}

void recv_chunked(const MpiWorld& world, void* data, std::size_t bytes, std::size_t chunk_bytes, int src, int tag) {
  FQ_CHECK(chunk_bytes > 0 && chunk_bytes <= kMaxChunkBytes, "rank ", world.rank(), " got an invalid chunk size ",
           chunk_bytes, " from rank ", src);
  char* p = static_cast<char*>(data);
  for (std::size_t offset = 0; offset < bytes; offset += chunk_bytes) {
    const int expected = chunk_count(offset, bytes, chunk_bytes);
    MPI_Status status;
    MPI_CHECK(MPI_Recv(p + offset, expected, MPI_BYTE, src, tag, world.comm(), &status));
    int received = 0;
    MPI_CHECK(MPI_Get_count(&status, MPI_BYTE, &received));
    FQ_CHECK(received == expected, "rank ", world.rank(), " expected a chunk of ", expected, " bytes from rank ", src,
             " at offset ", offset, " but got ", received, " (mismatched send/recv pairs?)");
  }
}

void broadcast_chunked(const MpiWorld& world, void* data, std::size_t bytes, std::size_t chunk_bytes, int root) {
  FQ_ASSERT(chunk_bytes > 0 && chunk_bytes <= kMaxChunkBytes);
  char* p = static_cast<char*>(data);
  for (std::size_t offset = 0; offset < bytes; offset += chunk_bytes) {
    MPI_CHECK(MPI_Bcast(p + offset, chunk_count(offset, bytes, chunk_bytes), MPI_BYTE, root, world.comm()));
  }
}

}  // namespace fq::cluster
