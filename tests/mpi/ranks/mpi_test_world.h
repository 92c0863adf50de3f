// The MpiWorld of the MPI test binary (made in its main()).
#pragma once

#include "cluster/mpi_world.h"

namespace fq::test {
const cluster::MpiWorld& world();
}  // namespace fq::test

// Skips a test that needs at least n ranks (the suite also runs as a single process).
#define FQ_REQUIRE_RANKS(n)                                                                       \
  do {                                                                                            \
    if (::fq::test::world().size() < (n)) GTEST_SKIP() << "needs " << (n) << " ranks, running with " \
                                                       << ::fq::test::world().size();             \
  } while (0)
