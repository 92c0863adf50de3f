#include "lib/store/tensor_archive_writer.h"

#include <vector>

#include <ATen/ATen.h>

#include "lib/core/json.h"
#include "lib/store/dtype_attribute.h"
#include "lib/store/h5_attributes.h"
#include "lib/store/h5_objects.h"
#include "lib/store/h5_types.h"

namespace fq::store {
namespace {

H5PropList create_intermediate_groups(const std::string& where) {
  H5PropList lcpl(H5_CHECK(H5Pcreate(H5P_LINK_CREATE), where, ": cannot create link properties"));
  H5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1), where, ": cannot enable intermediate groups");
  return lcpl;
}

}  // namespace

TensorArchiveWriter::TensorArchiveWriter(std::string path) : file_(std::move(path)) {}

std::string TensorArchiveWriter::where() const { return "tensor archive '" + file_.path() + "'"; }

void TensorArchiveWriter::check_free(const std::string& name, const char* what) {
  FQ_CHECK(!file_.committed(), where(), ": ", what, " '", name, "' after commit");
  FQ_CHECK(object_kind(file_.id(), name, where()) == H5ObjectKind::kMissing, where(), ": ", what, " '", name,
           "': the name is already taken");
}

void TensorArchiveWriter::put(const std::string& name, const at::Tensor& tensor) {
  const std::string normalized = normalize_object_name(name, where());
  const std::string dataset_where = str(where(), " dataset '", normalized, "'");
  FQ_CHECK(normalized != "/", where(), ": a tensor needs a name");
  FQ_CHECK(tensor.defined(), dataset_where, ": undefined tensor");
  check_free(normalized, "dataset");
  const at::Tensor host = tensor.to(at::kCPU).contiguous();
  H5Datatype type = h5_type_for(host.scalar_type(), dataset_where);

  std::vector<hsize_t> dims(host.sizes().begin(), host.sizes().end());
  H5Dataspace space(H5_CHECK(
      dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
      dataset_where, ": cannot create the dataspace"));
  H5PropList lcpl = create_intermediate_groups(dataset_where);
  H5Dataset dataset(H5_CHECK(
      H5Dcreate2(file_.id(), normalized.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
      dataset_where, ": cannot create"));
  if (host.numel() > 0) {
    H5_CHECK(H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, host.data_ptr()), dataset_where,
             ": write failed");
  }
  write_dtype_attribute(dataset.get(), host.scalar_type(), dataset_where);
}

H5Object TensorArchiveWriter::open_or_create_group(const std::string& object) {
  const std::string normalized = normalize_object_name(object, where());
  FQ_CHECK(!file_.committed(), where(), ": attribute on '", normalized, "' after commit");
  if (object_kind(file_.id(), normalized, where()) == H5ObjectKind::kMissing) {
    H5PropList lcpl = create_intermediate_groups(where());
    H5Group created(H5_CHECK(H5Gcreate2(file_.id(), normalized.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), where(),
                             ": cannot create group '", normalized, "'"));
  }
  return H5Object(
      H5_CHECK(H5Oopen(file_.id(), normalized.c_str(), H5P_DEFAULT), where(), ": cannot open '", normalized, "'"));
}

void TensorArchiveWriter::set_attribute(const std::string& object, const std::string& key,
                                        const AttributeValue& value) {
  H5Object handle = open_or_create_group(object);
  write_attribute(handle.get(), key, value, str(where(), " object '", normalize_object_name(object, where()), "'"));
}

void TensorArchiveWriter::set_json_attribute(const std::string& object, const std::string& key, const Json& value) {
  set_attribute(object, key, value.dump());
}

void TensorArchiveWriter::copy_from(const std::string& source_path, const std::string& source_object,
                                    const std::string& target_object) {
  const std::string source_name = normalize_object_name(source_object, "'" + source_path + "'");
  const std::string target_name = normalize_object_name(target_object, where());
  FQ_CHECK(target_name != "/", where(), ": cannot copy onto the root group");
  check_free(target_name, "copy target");
  H5File source = open_h5_file_for_reading(source_path);
  FQ_CHECK(object_kind(source.get(), source_name, "'" + source_path + "'") != H5ObjectKind::kMissing, "'", source_path,
           "': no object '", source_name, "' to copy");
  H5PropList lcpl = create_intermediate_groups(where());
  H5_CHECK(H5Ocopy(source.get(), source_name.c_str(), file_.id(), target_name.c_str(), H5P_DEFAULT, lcpl.get()),
           where(), ": cannot copy '", source_name, "' of '", source_path, "' to '", target_name, "'");
}

void TensorArchiveWriter::commit() {
  FQ_CHECK(!file_.committed(), where(), ": already committed");
  file_.commit();
}

}  // namespace fq::store
