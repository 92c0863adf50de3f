// A barrier that does not go silent: waits for every rank with MPI_Ibarrier, calling `tick` every
// `interval_seconds` meanwhile (rank 0 prints the job's progress while it waits for the others).
#pragma once

#include <functional>

namespace fq::cluster {

class MpiWorld;

void polling_barrier(const MpiWorld& world, double interval_seconds, const std::function<void()>& tick);

}  // namespace fq::cluster
