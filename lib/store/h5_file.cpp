#include "lib/store/h5_file.h"

#include <filesystem>
#include <utility>

#include "lib/core/atomic_file.h"

namespace fq::store {
namespace {

// H5Pset_file_locking arrived in 1.10.7 and 1.12.1.
#if (H5_VERS_MAJOR == 1 && H5_VERS_MINOR == 10 && H5_VERS_RELEASE >= 7) || H5_VERSION_GE(1, 12, 1)
#define FQ_HDF5_HAS_FILE_LOCKING 1
#else
#define FQ_HDF5_HAS_FILE_LOCKING 0
#endif

// Objects of at least 64 KiB start on a 4 KiB boundary (at most 4 KiB of padding each).
constexpr hsize_t kAlignThresholdBytes = 64 * 1024;
constexpr hsize_t kAlignmentBytes = 4096;

H5PropList file_access_properties(const std::string& path) {
  H5PropList fapl(H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), "'", path, "': cannot create file access properties"));
  H5_CHECK(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110), "'", path,
           "': cannot select the HDF5 1.10 file format");
  // Page-aligned chunks: whole-page I/O for every activation chunk (network filesystems cache by page).
  H5_CHECK(H5Pset_alignment(fapl.get(), kAlignThresholdBytes, kAlignmentBytes), "'", path,
           "': cannot set the alignment");
  H5_CHECK(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_SEMI), "'", path, "': cannot set the close degree");
#if FQ_HDF5_HAS_FILE_LOCKING
  H5_CHECK(H5Pset_file_locking(fapl.get(), true, true), "'", path, "': cannot set best-effort file locking");
#endif
  return fapl;
}

}  // namespace

H5File open_h5_file_for_reading(const std::string& path) {
  std::error_code ec;
  FQ_CHECK(std::filesystem::is_regular_file(path, ec), "'", path, "': no such file");
  H5PropList fapl = file_access_properties(path);
  return H5File(H5_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), "'", path,
                         "': cannot open as HDF5 (truncated, corrupt or not an HDF5 file)"));
}

PendingH5File::PendingH5File(std::string path) : path_(std::move(path)), temp_path_(temp_path_for(path_)) {
  H5PropList fapl = file_access_properties(path_);
  file_ = H5File(H5_CHECK(H5Fcreate(temp_path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), "'", path_,
                          "': cannot create the temporary file '", temp_path_, "'"));
}

PendingH5File::PendingH5File(PendingH5File&& other) noexcept
    : path_(std::move(other.path_)),
      temp_path_(std::move(other.temp_path_)),
      file_(std::move(other.file_)),
      committed_(other.committed_),
      owns_temp_file_(std::exchange(other.owns_temp_file_, false)) {}

PendingH5File::~PendingH5File() {
  if (!owns_temp_file_) return;
  file_.reset();
  std::error_code ec;
  std::filesystem::remove(temp_path_, ec);
}

void PendingH5File::commit() {
  FQ_CHECK(!committed_, "'", path_, "': already committed");
  // H5Fclose writes the remaining metadata; a failure here (disk full, open objects) loses the file.
  H5_CHECK(file_.close(), "'", path_, "': closing the temporary file '", temp_path_, "' failed");
  commit_file(temp_path_, path_);
  committed_ = true;
  owns_temp_file_ = false;
}

}  // namespace fq::store
