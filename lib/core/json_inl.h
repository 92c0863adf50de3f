// Template definitions for lib/core/json.h.
#pragma once

#include "lib/core/error.h"

namespace fq {

template <typename T>
T json_get(const Json& obj, const std::string& key, const std::string& where) {
  FQ_CHECK(obj.is_object(), where, ": expected a JSON object");
  auto it = obj.find(key);
  FQ_CHECK(it != obj.end() && !it->is_null(), where, ": missing required field '", key, "'");
  try {
    return it->template get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(str(where, ": field '", key, "' has the wrong type (", it->type_name(), ")"));
  }
}

template <typename T>
T json_get_or(const Json& obj, const std::string& key, const T& fallback, const std::string& where) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  try {
    return it->template get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(str(where, ": field '", key, "' has the wrong type (", it->type_name(), ")"));
  }
}

}  // namespace fq
