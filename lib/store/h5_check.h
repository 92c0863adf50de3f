// H5_CHECK: the one error check for HDF5 calls in lib/store.
//
// HDF5 reports failure through a negative hid_t/herr_t/htri_t and an error stack that it prints to stderr
// by default. H5_CHECK turns off that printing (per thread: the Debian build is thread-safe, and then the
// setting is per thread), and on failure throws fq::Error with the caller's context (which must name the
// file and the dataset or attribute), HDF5's own messages, innermost first, and the source line.
//
//   hid_t dset = H5_CHECK(H5Dopen2(file, "activations", H5P_DEFAULT), "'", path, "': cannot open dataset
//   'activations'");
#pragma once

#include <string>

#include "lib/core/error.h"

namespace fq::store::detail {

// Turns off HDF5's automatic error printing for the calling thread (once per thread).
void silence_hdf5_error_printing();

// Reads and clears the calling thread's HDF5 error stack: "H5F__super_read: truncated file: ...; ...".
std::string take_hdf5_error_stack();

[[noreturn]] void throw_hdf5_error(const std::string& context, const char* source_file, int source_line);

template <typename Result, typename Context>
Result h5_checked(Result result, const char* source_file, int source_line, const Context& context) {
  if (result < 0) throw_hdf5_error(context(), source_file, source_line);
  return result;
}

}  // namespace fq::store::detail

// Evaluates `call` with HDF5 error printing off; returns its result, or throws fq::Error(context + HDF5 stack).
#define H5_CHECK(call, ...)                                                                                         \
  ::fq::store::detail::h5_checked((::fq::store::detail::silence_hdf5_error_printing(), (call)), __FILE__, __LINE__, \
                                  [&] { return ::fq::str(__VA_ARGS__); })
