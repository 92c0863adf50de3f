#include "cluster/root_task.h"

#include <string>

#include "cluster/collectives.h"
#include "cluster/mpi_world.h"
#include "lib/core/error.h"

namespace fq::cluster {

void run_on_root(const MpiWorld& world, const std::function<void()>& task) {
  std::string message;
  if (world.is_root()) {
    try {
      task();
    } catch (const Error& e) {
      message = e.what();
      if (message.empty()) message = "unknown error on rank 0";
    }
  }
  message = broadcast_bytes(world, message, 0);
  if (!message.empty()) throw Error(message);
}

}  // namespace fq::cluster
