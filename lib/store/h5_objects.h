// Names and kinds of the objects (groups, datasets) inside an HDF5 file.
//
// Object names are '/'-separated paths relative to the root ("layer_003/attn_in/left"); "" and "/" name
// the root group. Components must be non-empty and not "." or "..".
#pragma once

#include <string>
#include <vector>

#include "lib/store/h5_handle.h"

namespace fq::store {

enum class H5ObjectKind { kMissing, kGroup, kDataset, kOther };

// "/" for the root, otherwise the name without a leading '/'. Throws fq::Error naming `where` for an empty
// component, "." or "..".
std::string normalize_object_name(const std::string& name, const std::string& where);

// Kind of object `name` (normalized) in `file`; kMissing when any component is absent.
H5ObjectKind object_kind(hid_t file, const std::string& name, const std::string& where);

// Names of the direct children of group `group` of the given kind, sorted.
std::vector<std::string> child_objects(hid_t file, const std::string& group, H5ObjectKind kind,
                                       const std::string& where);

// Full names of every object of the given kind in the file, sorted ("layer_003/attn_in/left").
std::vector<std::string> all_objects(hid_t file, H5ObjectKind kind, const std::string& where);

// Whether every chunk (or the contiguous block) of a non-empty dataset was written: an unwritten part
// would read back as zeros.
bool dataset_fully_written(hid_t dataset, const std::string& where);

}  // namespace fq::store
