// RAII owners of HDF5 identifiers (file, group, dataset, dataspace, datatype, property list, attribute):
// movable, not copyable; the destructor closes. Errors from closing in a destructor are dropped (a
// destructor must not throw); where a close can lose data (H5Fclose of a file being written), call
// close() and check it.
#pragma once

#include <utility>

#include <hdf5.h>

#include "lib/store/h5_check.h"

// H5Dget_num_chunks (1.10.5) and the 1.10 file format bounds (1.10.2); 1.12 and 1.14 work too.
#if !H5_VERSION_GE(1, 10, 5)
#error "lib/store needs HDF5 >= 1.10.5"
#endif

namespace fq::store {

template <herr_t (*Close)(hid_t)>
class H5Handle {
 public:
  H5Handle() = default;
  explicit H5Handle(hid_t id) : id_(id) {}
  ~H5Handle() { reset(); }
  H5Handle(H5Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  H5Handle& operator=(H5Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

  // Closes now and returns HDF5's status (negative on failure; the error stack is left for H5_CHECK).
  herr_t close() {
    if (!valid()) return 0;
    detail::silence_hdf5_error_printing();
    return Close(std::exchange(id_, H5I_INVALID_HID));
  }

  // Closes now, ignoring failure.
  void reset() {
    if (valid() && close() < 0) detail::take_hdf5_error_stack();
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using H5File = H5Handle<H5Fclose>;
using H5Group = H5Handle<H5Gclose>;
using H5Object = H5Handle<H5Oclose>;  // a group or dataset opened through H5Oopen
using H5Dataset = H5Handle<H5Dclose>;
using H5Dataspace = H5Handle<H5Sclose>;
using H5Datatype = H5Handle<H5Tclose>;
using H5PropList = H5Handle<H5Pclose>;
using H5Attribute = H5Handle<H5Aclose>;

}  // namespace fq::store
