#include "cluster/polling_barrier.h"

#include <mpi.h>

#include <chrono>
#include <thread>

#include "cluster/mpi_check.h"
#include "cluster/mpi_world.h"

namespace fq::cluster {

void polling_barrier(const MpiWorld& world, double interval_seconds, const std::function<void()>& tick) {
  MPI_Request request;
  MPI_CHECK(MPI_Ibarrier(world.comm(), &request));
  auto last = std::chrono::steady_clock::now();
  int done = 0;
  while (true) {
    MPI_CHECK(MPI_Test(&request, &done, MPI_STATUS_IGNORE));
    if (done) return;
    // A short sleep instead of spinning: a waiting rank leaves its cores to the ranks still working.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto now = std::chrono::steady_clock::now();
    if (tick && std::chrono::duration<double>(now - last).count() >= interval_seconds) {
      tick();
      last = now;
    }
  }
}

}  // namespace fq::cluster
