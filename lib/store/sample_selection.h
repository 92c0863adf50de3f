// The HDF5 selection of samples [sample_begin, sample_begin + count) of an activation dataset: whole
// [1, seqlen, hidden] chunks, matched by a contiguous [count, seqlen, hidden] memory buffer.
#pragma once

#include <cstdint>
#include <string>

#include "lib/store/activation_layout.h"
#include "lib/store/h5_handle.h"

namespace fq::store {

struct SampleSelection {
  H5Dataspace memory;
  H5Dataspace file;
  std::string where;  // "'<path>' dataset 'activations' samples [b, e)", for errors of the read or write
};

// Checks the range against `shape` (an fq::Error naming `path` when outside) and selects it.
SampleSelection select_samples(hid_t dataset, const std::string& path, const ActivationShape& shape,
                               std::int64_t sample_begin, std::int64_t count);

}  // namespace fq::store
