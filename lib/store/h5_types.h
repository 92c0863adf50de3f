// The element types lib/store writes, as real HDF5 types, and the name of each in the `dtype` attribute.
//
// bfloat16 and float16 are HDF5 float types built from IEEE_F32LE (HDF5 1.10 has neither): h5py reads
// bfloat16 as float32 and float16 as float16, exactly. The stored type is also the memory type of every
// read and write, so HDF5 never converts (its software bf16 conversion saturates inf) and the bits on
// disk are the tensor's bits. That assumes a little-endian host, checked at compile time.
//
// `h5dump -H` prints bfloat16 and float16 alike ("16-bit little-endian floating-point"), hence the
// `dtype` string attribute on every dataset.
#pragma once

#include <string>

#include <c10/core/ScalarType.h>

#include "lib/store/h5_handle.h"

namespace fq::store {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "lib/store writes little-endian HDF5 types from memory");

// Name of the `dtype` attribute every dataset carries.
inline constexpr const char* kDtypeAttribute = "dtype";

// The HDF5 type stored for `type`: float32, float64, bfloat16, float16, int64, int32, uint8, bool (an
// int8 enum FALSE=0/TRUE=1, as h5py writes numpy bool). Throws fq::Error naming `where` for other types.
H5Datatype h5_type_for(c10::ScalarType type, const std::string& where);

// The tensor type of a stored HDF5 type (exact match on class, size, bit fields, bias and byte order).
// Throws fq::Error naming `where` for any other HDF5 type.
c10::ScalarType scalar_type_of(hid_t h5_type, const std::string& where);

// "float32", "bfloat16", "float16", "float64" (as fq::dtype_name), "int64", "int32", "uint8", "bool".
std::string stored_dtype_name(c10::ScalarType type);

}  // namespace fq::store
