// This machine's host name, as MPI logs, run locks and Slurm know it.
#pragma once

#include <string>

namespace fq::cluster {

// gethostname(2), or "unknown-host" when it fails.
std::string host_name();

}  // namespace fq::cluster
