#include "lib/store/tensor_archive_reader.h"

#include <ATen/ATen.h>

#include "lib/core/json.h"
#include "lib/store/dtype_attribute.h"
#include "lib/store/h5_attributes.h"
#include "lib/store/h5_file.h"
#include "lib/store/h5_objects.h"
#include "lib/store/h5_types.h"

namespace fq::store {

TensorArchiveReader::TensorArchiveReader(std::string path)
    : path_(std::move(path)), file_(open_h5_file_for_reading(path_)) {}

std::string TensorArchiveReader::where() const { return "tensor archive '" + path_ + "'"; }

at::Tensor TensorArchiveReader::read(const std::string& name) const {
  const std::string normalized = normalize_object_name(name, where());
  const std::string dataset_where = str(where(), " dataset '", normalized, "'");
  FQ_CHECK(object_kind(file_.get(), normalized, where()) == H5ObjectKind::kDataset, where(), ": no dataset '",
           normalized, "'");
  H5Dataset dataset(H5_CHECK(H5Dopen2(file_.get(), normalized.c_str(), H5P_DEFAULT), dataset_where, ": cannot open"));
  const c10::ScalarType dtype = dataset_scalar_type(dataset.get(), /*dtype_attribute_required=*/false, dataset_where);
  H5Dataspace space(H5_CHECK(H5Dget_space(dataset.get()), dataset_where, ": cannot read the dataspace"));
  const int rank = H5_CHECK(H5Sget_simple_extent_ndims(space.get()), dataset_where, ": cannot read the rank");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5_CHECK(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), dataset_where, ": cannot read the shape");
  at::Tensor out = at::empty(std::vector<std::int64_t>(dims.begin(), dims.end()), at::TensorOptions().dtype(dtype));
  if (out.numel() > 0) {
    H5Datatype memory_type = h5_type_for(dtype, dataset_where);
    H5_CHECK(H5Dread(dataset.get(), memory_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data_ptr()), dataset_where,
             ": read failed");
  }
  return out;
}

bool TensorArchiveReader::has_dataset(const std::string& name) const {
  return object_kind(file_.get(), normalize_object_name(name, where()), where()) == H5ObjectKind::kDataset;
}

bool TensorArchiveReader::has_group(const std::string& name) const {
  return object_kind(file_.get(), normalize_object_name(name, where()), where()) == H5ObjectKind::kGroup;
}

std::vector<std::string> TensorArchiveReader::groups(const std::string& group) const {
  return child_objects(file_.get(), normalize_object_name(group, where()), H5ObjectKind::kGroup, where());
}

std::vector<std::string> TensorArchiveReader::datasets(const std::string& group) const {
  return child_objects(file_.get(), normalize_object_name(group, where()), H5ObjectKind::kDataset, where());
}

std::vector<std::string> TensorArchiveReader::all_datasets() const {
  return all_objects(file_.get(), H5ObjectKind::kDataset, where());
}

Attributes TensorArchiveReader::attributes(const std::string& object) const {
  const std::string normalized = normalize_object_name(object, where());
  FQ_CHECK(object_kind(file_.get(), normalized, where()) != H5ObjectKind::kMissing, where(), ": no object '",
           normalized, "'");
  H5Object handle(
      H5_CHECK(H5Oopen(file_.get(), normalized.c_str(), H5P_DEFAULT), where(), ": cannot open '", normalized, "'"));
  return read_attributes(handle.get(), str(where(), " object '", normalized, "'"));
}

AttributeValue TensorArchiveReader::attribute(const std::string& object, const std::string& key,
                                              AttributeValue::Kind kind) const {
  const Attributes all = attributes(object);
  const auto found = all.find(key);
  const std::string what = str(where(), " object '", normalize_object_name(object, where()), "' attribute '", key, "'");
  FQ_CHECK(found != all.end(), what, ": missing");
  FQ_CHECK(found->second.kind() == kind, what, ": expected a value of type ", AttributeValue::kind_name(kind),
           ", found ", found->second.to_string());
  return found->second;
}

std::string TensorArchiveReader::string_attribute(const std::string& object, const std::string& key) const {
  return attribute(object, key, AttributeValue::Kind::kString).text();
}

std::int64_t TensorArchiveReader::int_attribute(const std::string& object, const std::string& key) const {
  return attribute(object, key, AttributeValue::Kind::kInt).integer();
}

double TensorArchiveReader::double_attribute(const std::string& object, const std::string& key) const {
  return attribute(object, key, AttributeValue::Kind::kDouble).real();
}

Json TensorArchiveReader::json_attribute(const std::string& object, const std::string& key) const {
  const std::string text = string_attribute(object, key);
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw Error(str(where(), " object '", normalize_object_name(object, where()), "' attribute '", key,
                    "': not valid JSON (", e.what(), ")"));
  }
}

}  // namespace fq::store
