#include "lib/store/h5_objects.h"

#include <algorithm>

namespace fq::store {
namespace {

herr_t collect_link(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

std::vector<std::string> keep_kind(hid_t file, const std::string& prefix, const std::vector<std::string>& names,
                                   H5ObjectKind kind, const std::string& where) {
  std::vector<std::string> kept;
  for (const std::string& name : names) {
    if (object_kind(file, prefix + name, where) == kind) kept.push_back(name);
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

}  // namespace

std::string normalize_object_name(const std::string& name, const std::string& where) {
  const std::string relative = !name.empty() && name.front() == '/' ? name.substr(1) : name;
  if (relative.empty()) return "/";
  size_t begin = 0;
  while (true) {
    const size_t end = relative.find('/', begin);
    const std::string component = relative.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    FQ_CHECK(!component.empty() && component != "." && component != "..", where, ": bad object name '", name,
             "' (empty, '.' or '..' component)");
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return relative;
}

H5ObjectKind object_kind(hid_t file, const std::string& name, const std::string& where) {
  const auto kind_of = [&](const std::string& existing) {
    H5Object object(
        H5_CHECK(H5Oopen(file, existing.c_str(), H5P_DEFAULT), where, ": cannot open object '", existing, "'"));
    switch (H5Iget_type(object.get())) {
      case H5I_GROUP:
        return H5ObjectKind::kGroup;
      case H5I_DATASET:
        return H5ObjectKind::kDataset;
      default:
        return H5ObjectKind::kOther;
    }
  };
  if (name == "/") return kind_of(name);
  // H5Lexists fails (rather than answering false) below a missing or non-group component: walk the prefixes.
  for (size_t slash = name.find('/');; slash = name.find('/', slash + 1)) {
    const std::string prefix = name.substr(0, slash);
    if (H5_CHECK(H5Lexists(file, prefix.c_str(), H5P_DEFAULT), where, ": cannot look up '", prefix, "'") <= 0) {
      return H5ObjectKind::kMissing;
    }
    const H5ObjectKind kind = kind_of(prefix);
    if (slash == std::string::npos) return kind;
    if (kind != H5ObjectKind::kGroup) return H5ObjectKind::kMissing;
  }
}

std::vector<std::string> child_objects(hid_t file, const std::string& group, H5ObjectKind kind,
                                       const std::string& where) {
  FQ_CHECK(object_kind(file, group, where) == H5ObjectKind::kGroup, where, ": no group '", group, "'");
  H5Group handle(H5_CHECK(H5Gopen2(file, group.c_str(), H5P_DEFAULT), where, ": cannot open group '", group, "'"));
  std::vector<std::string> names;
  hsize_t index = 0;
  H5_CHECK(H5Literate(handle.get(), H5_INDEX_NAME, H5_ITER_INC, &index, collect_link, &names), where,
           ": cannot list group '", group, "'");
  return keep_kind(file, group == "/" ? "" : group + "/", names, kind, where);
}

std::vector<std::string> all_objects(hid_t file, H5ObjectKind kind, const std::string& where) {
  std::vector<std::string> names;
  H5_CHECK(H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, collect_link, &names), where, ": cannot walk the file");
  return keep_kind(file, "", names, kind, where);
}

bool dataset_fully_written(hid_t dataset, const std::string& where) {
  H5PropList dcpl(H5_CHECK(H5Dget_create_plist(dataset), where, ": cannot read the creation properties"));
  if (H5_CHECK(H5Pget_layout(dcpl.get()), where, ": cannot read the layout") == H5D_CHUNKED) {
    // The space status compares stored bytes with the nominal size, which compressed chunks never reach:
    // count the chunks instead.
    H5Dataspace space(H5_CHECK(H5Dget_space(dataset), where, ": cannot read the dataspace"));
    const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space.get()), where, ": cannot read the rank");
    std::vector<hsize_t> dims(static_cast<size_t>(rank)), chunk(static_cast<size_t>(rank));
    H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), where, ": cannot read the shape");
    H5_CHECK(H5Pget_chunk(dcpl.get(), rank, chunk.data()), where, ": cannot read the chunk shape");
    hsize_t expected_chunks = 1;
    for (int d = 0; d < rank; ++d) expected_chunks *= (dims[d] + chunk[d] - 1) / chunk[d];
    hsize_t stored_chunks = 0;
    H5_CHECK(H5Dget_num_chunks(dataset, space.get(), &stored_chunks), where, ": cannot count the chunks");
    return stored_chunks == expected_chunks;
  }
  H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
  H5_CHECK(H5Dget_space_status(dataset, &status), where, ": cannot read the allocation status");
  return status == H5D_SPACE_STATUS_ALLOCATED;
}

}  // namespace fq::store
