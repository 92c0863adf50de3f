// Byte buffers of any size over MPI. MPI counts are `int`, so one message carries at most 2 GiB - 1;
// these send a buffer as consecutive chunks of at most `chunk_bytes` (MPI keeps messages between two
// ranks on one communicator and tag in order). The sender chooses the chunk size and tells the receiver
// in its header, so ranks never have to agree on a setting.
#pragma once

#include <cstddef>

namespace fq::cluster {

class MpiWorld;

// Message tags of cluster/ on MpiWorld's private communicator.
constexpr int kTagBytesHeader = 3100;
constexpr int kTagBytes = 3101;
constexpr int kTagTensorHeader = 3102;
constexpr int kTagTensor = 3103;
constexpr int kTagTensorStream = 3104;  // tensor_stream.h

// Chunk size for new transfers: $FLATQUANT_MPI_CHUNK_BYTES when set (tests use small chunks to exercise
// the chunking; some networks prefer smaller messages), else 1 GiB.
std::size_t mpi_chunk_bytes();

void send_chunked(const MpiWorld& world, const void* data, std::size_t bytes, std::size_t chunk_bytes, int dst, int tag);
// Receives exactly what send_chunked sent with the same `bytes` and `chunk_bytes`; a chunk of another size
// (mismatched send/recv pairs) is an fq::Error naming both ranks.
void recv_chunked(const MpiWorld& world, void* data, std::size_t bytes, std::size_t chunk_bytes, int src, int tag);
// Every rank passes the same `bytes` and `chunk_bytes`; `data` is read on `root`, written elsewhere.
void broadcast_chunked(const MpiWorld& world, void* data, std::size_t bytes, std::size_t chunk_bytes, int root);

}  // namespace fq::cluster
