#include "lib/store/h5_check.h"

#include <vector>

#include <hdf5.h>

namespace fq::store::detail {
namespace {

// HDF5 stacks run 5-10 frames deep and the outer ones repeat the API call ("unable to open file");
// the innermost few say what is actually wrong ("truncated file: eof = 1024, ...").
constexpr int kMaxReportedFrames = 4;

herr_t collect_frame(unsigned frame, const H5E_error2_t* error, void* data) {
  auto* frames = static_cast<std::vector<std::string>*>(data);
  if (static_cast<int>(frames->size()) < kMaxReportedFrames) {
    frames->push_back(str(error->func_name ? error->func_name : "?", ": ", error->desc ? error->desc : "?"));
  }
  return 0;
}

}  // namespace

void silence_hdf5_error_printing() {
  thread_local bool silenced = false;
  if (!silenced) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

std::string take_hdf5_error_stack() {
  std::vector<std::string> frames;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_frame, &frames);
  H5Eclear2(H5E_DEFAULT);
  std::string text;
  for (const std::string& frame : frames) text += (text.empty() ? "" : "; ") + frame;
  return text.empty() ? "no HDF5 error message" : text;
}

void throw_hdf5_error(const std::string& context, const char* source_file, int source_line) {
  throw Error(str(context, " [HDF5: ", take_hdf5_error_stack(), "] (", source_file, ":", source_line, ")"));
}

}  // namespace fq::store::detail
