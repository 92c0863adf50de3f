// JSON through nlohmann/json, with file helpers whose errors name the file and the field.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace fq {

using Json = nlohmann::json;

// Parses a JSON file; a missing file or a syntax error is an fq::Error naming the file.
Json read_json_file(const std::string& path);

// Writes pretty-printed JSON atomically.
void write_json_file_atomic(const std::string& path, const Json& value);

// Typed field access whose errors name the file (`where`) and the key.
template <typename T>
T json_get(const Json& obj, const std::string& key, const std::string& where);
template <typename T>
T json_get_or(const Json& obj, const std::string& key, const T& fallback, const std::string& where);

}  // namespace fq

#include "lib/core/json_inl.h"
