#include "cluster/mpi_check.h"

#include <mpi.h>

#include <cstdio>

#include "lib/core/error.h"
#include "lib/core/log.h"

namespace fq::cluster::detail {

void mpi_check(int code, const char* call, const char* file, int line) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) std::snprintf(text, sizeof text, "error code %d", code);
  throw Error(str("MPI error (", file, ":", line, ", rank ", log::rank(), "): ", call, " failed: ", text));
}

}  // namespace fq::cluster::detail
