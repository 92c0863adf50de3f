#include "lib/store/h5_attributes.h"

#include <vector>

namespace fq::store {
namespace {

// `size_bytes`: a length, or H5T_VARIABLE.
H5Datatype utf8_string_type(size_t size_bytes) {
  H5Datatype type(H5_CHECK(H5Tcopy(H5T_C_S1), "cannot copy the C string type"));
  H5_CHECK(H5Tset_size(type.get(), size_bytes), "cannot set the size of a string type");
  H5_CHECK(H5Tset_cset(type.get(), H5T_CSET_UTF8), "cannot make a UTF-8 string type");
  return type;
}

std::string read_string(hid_t attribute, hid_t file_type, const std::string& what) {
  if (H5_CHECK(H5Tis_variable_str(file_type), what, ": cannot inspect the string type") > 0) {
    H5Datatype memory_type = utf8_string_type(H5T_VARIABLE);
    char* text = nullptr;
    H5_CHECK(H5Aread(attribute, memory_type.get(), &text), what, ": cannot read the string");
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  // Fixed-length (h5py writes numpy bytes this way): the file type is also the memory type.
  const size_t size_bytes = H5Tget_size(file_type);
  std::string buffer(size_bytes, '\0');
  H5_CHECK(H5Aread(attribute, file_type, buffer.data()), what, ": cannot read the string");
  return buffer.substr(0, buffer.find('\0'));
}

herr_t collect_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

}  // namespace

void write_attribute(hid_t object, const std::string& key, const AttributeValue& value, const std::string& where) {
  const std::string what = str(where, " attribute '", key, "'");
  if (H5_CHECK(H5Aexists(object, key.c_str()), what, ": cannot check for the attribute") > 0) {
    H5_CHECK(H5Adelete(object, key.c_str()), what, ": cannot replace the attribute");
  }
  H5Dataspace scalar(H5_CHECK(H5Screate(H5S_SCALAR), what, ": cannot create a scalar dataspace"));
  switch (value.kind()) {
    case AttributeValue::Kind::kString: {
      const std::string& text = value.text();
      H5Datatype type = utf8_string_type(text.size() + 1);
      H5Attribute attribute(
          H5_CHECK(H5Acreate2(object, key.c_str(), type.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT), what,
                   ": cannot create"));
      H5_CHECK(H5Awrite(attribute.get(), type.get(), text.c_str()), what, ": cannot write");
      break;
    }
    case AttributeValue::Kind::kInt: {
      H5Attribute attribute(
          H5_CHECK(H5Acreate2(object, key.c_str(), H5T_STD_I64LE, scalar.get(), H5P_DEFAULT, H5P_DEFAULT), what,
                   ": cannot create"));
      const std::int64_t number = value.integer();
      H5_CHECK(H5Awrite(attribute.get(), H5T_NATIVE_INT64, &number), what, ": cannot write");
      break;
    }
    case AttributeValue::Kind::kDouble: {
      H5Attribute attribute(
          H5_CHECK(H5Acreate2(object, key.c_str(), H5T_IEEE_F64LE, scalar.get(), H5P_DEFAULT, H5P_DEFAULT), what,
                   ": cannot create"));
      const double number = value.real();
      H5_CHECK(H5Awrite(attribute.get(), H5T_NATIVE_DOUBLE, &number), what, ": cannot write");
      break;
    }
  }
}

std::optional<AttributeValue> read_attribute(hid_t object, const std::string& key, const std::string& where) {
  const std::string what = str(where, " attribute '", key, "'");
  if (H5_CHECK(H5Aexists(object, key.c_str()), what, ": cannot check for the attribute") <= 0) return std::nullopt;
  H5Attribute attribute(H5_CHECK(H5Aopen(object, key.c_str(), H5P_DEFAULT), what, ": cannot open"));
  H5Dataspace space(H5_CHECK(H5Aget_space(attribute.get()), what, ": cannot read the dataspace"));
  const hssize_t points = H5_CHECK(H5Sget_simple_extent_npoints(space.get()), what, ": cannot read the dataspace");
  FQ_CHECK(points == 1, what, ": expected a single value, found ", points);
  H5Datatype type(H5_CHECK(H5Aget_type(attribute.get()), what, ": cannot read the type"));
  switch (H5Tget_class(type.get())) {
    case H5T_STRING:
      return AttributeValue(read_string(attribute.get(), type.get(), what));
    case H5T_INTEGER: {
      std::int64_t number = 0;
      H5_CHECK(H5Aread(attribute.get(), H5T_NATIVE_INT64, &number), what, ": cannot read as int64");
      return AttributeValue(number);
    }
    case H5T_FLOAT: {
      double number = 0;
      H5_CHECK(H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, &number), what, ": cannot read as double");
      return AttributeValue(number);
    }
    default:
      throw Error(str(what, ": unsupported type (expected a string, an integer or a float)"));
  }
}

Attributes read_attributes(hid_t object, const std::string& where) {
  std::vector<std::string> names;
  hsize_t index = 0;
  H5_CHECK(H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_INC, &index, collect_name, &names), where,
           ": cannot list the attributes");
  Attributes attributes;
  for (const std::string& name : names) attributes.emplace(name, *read_attribute(object, name, where));
  return attributes;
}

}  // namespace fq::store
