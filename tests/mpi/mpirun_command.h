// The command line that starts a program on `ranks` ranks of this host under the configured mpiexec
// (FQ_MPIEXEC, a compile definition of the test target): oversubscribed (more ranks than cores is fine
// for tests), allowed as root (containers), with OMP_NUM_THREADS passed on to every rank.
#pragma once

#include <string>
#include <vector>

namespace fq::test {

inline std::vector<std::string> mpirun(int ranks, const std::vector<std::string>& command) {
  std::vector<std::string> argv = {FQ_MPIEXEC, "--allow-run-as-root", "--oversubscribe",  "-np",
                                   std::to_string(ranks), "-x", "OMP_NUM_THREADS"};
  argv.insert(argv.end(), command.begin(), command.end());
  return argv;
}

}  // namespace fq::test
