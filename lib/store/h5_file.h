// Opening and atomically creating the HDF5 files of lib/store.
//
// Every file is written in the HDF5 1.10 format (metadata carries checksums, so a damaged header is an
// error instead of garbage; readable by HDF5 >= 1.10 and h5py) with best-effort file locking: locks are
// used where the filesystem has them and skipped where it does not (NFS/Lustre without lockd), since
// each file has one writer, which publishes it by rename. $HDF5_USE_FILE_LOCKING still overrides this.
#pragma once

#include <string>

#include "lib/store/h5_handle.h"

namespace fq::store {

// Opens an existing file read-only; a missing, truncated or non-HDF5 file is an fq::Error naming it.
H5File open_h5_file_for_reading(const std::string& path);

// A file being written under a temporary name (lib/core/atomic_file.h): commit() closes it, fsyncs and
// renames it to `path`; destroying it uncommitted deletes the temporary file, so readers only ever see
// complete files. Every handle into the file must be closed before commit() (the file closes with
// H5F_CLOSE_SEMI, which refuses to close under open objects instead of silently delaying the close).
class PendingH5File {
 public:
  // Creates (truncating) `temp_path_for(path)`; the directory of `path` must exist.
  explicit PendingH5File(std::string path);
  ~PendingH5File();
  PendingH5File(PendingH5File&& other) noexcept;
  PendingH5File& operator=(PendingH5File&&) = delete;
  PendingH5File(const PendingH5File&) = delete;
  PendingH5File& operator=(const PendingH5File&) = delete;

  hid_t id() const { return file_.get(); }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }
  bool committed() const { return committed_; }

  void commit();

 private:
  std::string path_;
  std::string temp_path_;
  H5File file_;
  bool committed_ = false;
  bool owns_temp_file_ = true;  // false once committed or moved from
};

}  // namespace fq::store
