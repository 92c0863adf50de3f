// The `dtype` string attribute every stored dataset carries (h5dump cannot tell bfloat16 from float16).
#pragma once

#include <string>

#include <c10/core/ScalarType.h>

#include "lib/store/h5_handle.h"

namespace fq::store {

void write_dtype_attribute(hid_t dataset, c10::ScalarType type, const std::string& where);

// Checks the attribute against the HDF5 element type `actual`. `required`: a missing attribute is an error
// (files lib/store wrote); otherwise only a present one is checked (files from h5py or other tools).
void check_dtype_attribute(hid_t dataset, c10::ScalarType actual, bool required, const std::string& where);

// Element type of an open dataset, checked against its `dtype` attribute.
c10::ScalarType dataset_scalar_type(hid_t dataset, bool dtype_attribute_required, const std::string& where);

}  // namespace fq::store
