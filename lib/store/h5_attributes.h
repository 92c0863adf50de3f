// Reading and writing scalar attributes (string, int64, double) on an open HDF5 object. `where` names the
// file and the object in every error ("'run/layer_003.h5' dataset 'activations'").
#pragma once

#include <optional>
#include <string>

#include "lib/store/attribute_value.h"
#include "lib/store/h5_handle.h"

namespace fq::store {

// Writes `key`, replacing an attribute of that name.
void write_attribute(hid_t object, const std::string& key, const AttributeValue& value, const std::string& where);

// One attribute, std::nullopt when absent; throws for a non-scalar attribute or an unsupported type.
std::optional<AttributeValue> read_attribute(hid_t object, const std::string& key, const std::string& where);

// Every attribute of `object`.
Attributes read_attributes(hid_t object, const std::string& where);

}  // namespace fq::store
