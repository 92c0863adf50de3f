#include "lib/store/dtype_attribute.h"

#include "lib/store/h5_attributes.h"
#include "lib/store/h5_types.h"

namespace fq::store {

void write_dtype_attribute(hid_t dataset, c10::ScalarType type, const std::string& where) {
  write_attribute(dataset, kDtypeAttribute, stored_dtype_name(type), where);
}

void check_dtype_attribute(hid_t dataset, c10::ScalarType actual, bool required, const std::string& where) {
  const std::optional<AttributeValue> stored = read_attribute(dataset, kDtypeAttribute, where);
  FQ_CHECK(stored || !required, where, ": missing the '", kDtypeAttribute, "' attribute");
  if (!stored) return;
  FQ_CHECK(stored->kind() == AttributeValue::Kind::kString && stored->text() == stored_dtype_name(actual), where,
           ": attribute '", kDtypeAttribute, "' says ", stored->to_string(), " but the HDF5 element type is ",
           stored_dtype_name(actual));
}

c10::ScalarType dataset_scalar_type(hid_t dataset, bool dtype_attribute_required, const std::string& where) {
  H5Datatype type(H5_CHECK(H5Dget_type(dataset), where, ": cannot read the element type"));
  const c10::ScalarType scalar_type = scalar_type_of(type.get(), where);
  check_dtype_attribute(dataset, scalar_type, dtype_attribute_required, where);
  return scalar_type;
}

}  // namespace fq::store
