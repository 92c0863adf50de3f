// main() of the MPI suite: every rank runs the same tests in the same order under one MpiWorld, so a
// collective inside a test meets its peers. A failure on any rank makes that rank, and so mpirun, exit
// non-zero.
#include <gtest/gtest.h>

#include "tests/mpi/ranks/mpi_test_world.h"

namespace fq::test {
namespace {
cluster::MpiWorld* g_world = nullptr;
}  // namespace

const cluster::MpiWorld& world() { return *g_world; }

}  // namespace fq::test

int main(int argc, char** argv) {
  fq::cluster::MpiWorld world(&argc, &argv);
  fq::test::g_world = &world;
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
