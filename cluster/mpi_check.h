// MPI_CHECK: turns a failed MPI call into an fq::Error naming the call, file:line and the rank.
//
// MPI's default error handler aborts the job before a return code is ever seen; MpiWorld installs
// MPI_ERRORS_RETURN on its communicator so that failures on it reach this check instead.
#pragma once

namespace fq::cluster::detail {
// Throws fq::Error("MPI error (file:line, rank r): call failed: <MPI_Error_string>") unless code is MPI_SUCCESS.
void mpi_check(int code, const char* call, const char* file, int line);
}  // namespace fq::cluster::detail

#define MPI_CHECK(call) ::fq::cluster::detail::mpi_check((call), #call, __FILE__, __LINE__)
