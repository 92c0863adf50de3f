#include "lib/store/h5_types.h"

#include "lib/core/error.h"

namespace fq::store {
namespace {

H5Datatype copy_of(hid_t predefined) {
  return H5Datatype(H5_CHECK(H5Tcopy(predefined), "cannot copy a predefined HDF5 type"));
}

// A 16-bit float made from IEEE_F32LE: sign at bit 15, exponent above the mantissa. set_fields goes
// before set_size (HDF5 rejects a size smaller than the current fields); norm stays implied, as for the
// IEEE types.
H5Datatype float16_layout(size_t exponent_bits, size_t mantissa_bits, size_t exponent_bias) {
  H5Datatype type = copy_of(H5T_IEEE_F32LE);
  H5_CHECK(H5Tset_fields(type.get(), 15, mantissa_bits, exponent_bits, 0, mantissa_bits),
           "cannot set the bit fields of a 16-bit float type");
  H5_CHECK(H5Tset_size(type.get(), 2), "cannot set the size of a 16-bit float type");
  H5_CHECK(H5Tset_ebias(type.get(), exponent_bias), "cannot set the exponent bias of a 16-bit float type");
  return type;
}

H5Datatype bfloat16_type() { return float16_layout(8, 7, 127); }
H5Datatype ieee_float16_type() { return float16_layout(5, 10, 15); }
H5Datatype float32_type() { return copy_of(H5T_IEEE_F32LE); }
H5Datatype float64_type() { return copy_of(H5T_IEEE_F64LE); }
H5Datatype int64_type() { return copy_of(H5T_STD_I64LE); }
H5Datatype int32_type() { return copy_of(H5T_STD_I32LE); }
H5Datatype uint8_type() { return copy_of(H5T_STD_U8LE); }

// numpy bool as h5py stores it, so that h5py reads it back as bool.
H5Datatype bool_type() {
  H5Datatype type(H5_CHECK(H5Tenum_create(H5T_STD_I8LE), "cannot create the bool enum type"));
  const int8_t false_value = 0;
  const int8_t true_value = 1;
  H5_CHECK(H5Tenum_insert(type.get(), "FALSE", &false_value), "cannot build the bool enum type");
  H5_CHECK(H5Tenum_insert(type.get(), "TRUE", &true_value), "cannot build the bool enum type");
  return type;
}

struct StoredType {
  c10::ScalarType scalar_type;
  const char* name;
  H5Datatype (*make)();
};

constexpr StoredType kStoredTypes[] = {
    {c10::kFloat, "float32", float32_type},     {c10::kBFloat16, "bfloat16", bfloat16_type},
    {c10::kHalf, "float16", ieee_float16_type}, {c10::kDouble, "float64", float64_type},
    {c10::kLong, "int64", int64_type},          {c10::kInt, "int32", int32_type},
    {c10::kByte, "uint8", uint8_type},          {c10::kBool, "bool", bool_type},
};

const StoredType* find_stored(c10::ScalarType type) {
  for (const StoredType& stored : kStoredTypes) {
    if (stored.scalar_type == type) return &stored;
  }
  return nullptr;
}

std::string supported_list() {
  std::string names;
  for (const StoredType& stored : kStoredTypes) names += (names.empty() ? "" : ", ") + std::string(stored.name);
  return names;
}

std::string describe_h5_type(hid_t h5_type) {
  const char* class_name = "other";
  switch (H5Tget_class(h5_type)) {
    case H5T_INTEGER:
      class_name = "integer";
      break;
    case H5T_FLOAT:
      class_name = "float";
      break;
    case H5T_STRING:
      class_name = "string";
      break;
    case H5T_COMPOUND:
      class_name = "compound";
      break;
    case H5T_ENUM:
      class_name = "enum";
      break;
    case H5T_OPAQUE:
      class_name = "opaque";
      break;
    case H5T_ARRAY:
      class_name = "array";
      break;
    default:
      break;
  }
  const bool big_endian = H5Tget_order(h5_type) == H5T_ORDER_BE;
  return str(H5Tget_size(h5_type) * 8, "-bit ", class_name, big_endian ? ", big-endian" : "");
}

}  // namespace

H5Datatype h5_type_for(c10::ScalarType type, const std::string& where) {
  const StoredType* stored = find_stored(type);
  FQ_CHECK(stored, where, ": cannot store element type ", c10::toString(type), " (supported: ", supported_list(), ")");
  return stored->make();
}

c10::ScalarType scalar_type_of(hid_t h5_type, const std::string& where) {
  for (const StoredType& stored : kStoredTypes) {
    H5Datatype candidate = stored.make();
    if (H5_CHECK(H5Tequal(candidate.get(), h5_type), where, ": cannot compare HDF5 types") > 0) {
      return stored.scalar_type;
    }
  }
  throw Error(str(where, ": unsupported HDF5 element type (", describe_h5_type(h5_type),
                  "); supported: ", supported_list(), ", little-endian"));
}

std::string stored_dtype_name(c10::ScalarType type) {
  const StoredType* stored = find_stored(type);
  FQ_ASSERT(stored, "no stored name for ", c10::toString(type));
  return stored->name;
}

}  // namespace fq::store
