// A full metadata check of an HDF5 file written by lib/store, for resume decisions ("is this layer's file
// usable, or must it be recomputed?") without reading gigabytes of data.
#pragma once

#include <cstdint>
#include <string>

namespace fq::store {

struct Hdf5FileSummary {
  std::int64_t groups = 0;  // the root group not counted
  std::int64_t datasets = 0;
  std::int64_t attributes = 0;  // over all objects, the root included
};

// Opens `path` and reads all its metadata: every group and dataset, their attributes, element types (one
// of the stored types, consistent with any `dtype` attribute) and shapes, and checks that every non-empty
// dataset was fully written. Throws fq::Error naming the file and the object at the first problem.
Hdf5FileSummary verify_hdf5_file(const std::string& path);

}  // namespace fq::store
