// Collectives over every rank of an MpiWorld: what the pipeline needs to keep ranks in step and to move
// small results (plans, manifests, losses) around. Every rank must call each of them, in the same order.
// Byte payloads are std::string (any bytes) of any size. Tensor all-reduce: tensor_allreduce.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fq::cluster {

class MpiWorld;

enum class ReduceOp { kSum, kMax, kMin };

void barrier(const MpiWorld& world);

// Returns root's `bytes` on every rank (`bytes` is ignored elsewhere).
std::string broadcast_bytes(const MpiWorld& world, const std::string& bytes, int root = 0);

// On `root`: every rank's `bytes`, indexed by rank. Elsewhere: an empty vector.
std::vector<std::string> gather_bytes(const MpiWorld& world, const std::string& bytes, int root = 0);

// Element-wise reduction over ranks, result on every rank. Every rank passes the same number of values;
// a different count is an fq::Error on every rank.
std::vector<double> allreduce(const MpiWorld& world, const std::vector<double>& values, ReduceOp op);
std::vector<std::int64_t> allreduce(const MpiWorld& world, const std::vector<std::int64_t>& values, ReduceOp op);

}  // namespace fq::cluster
