// Where a value sits in a tokenizer.json, for error messages: "'/m/tokenizer.json' field
// 'pre_tokenizer.pretokenizers[1].pattern'".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "lib/core/error.h"
#include "lib/core/json.h"

namespace fq::io::tok {

class JsonField {
 public:
  JsonField(std::string file, std::string path) : file_(std::move(file)), path_(std::move(path)) {}

  JsonField operator/(std::string_view key) const {
    return {file_, path_.empty() ? std::string(key) : str(path_, ".", key)};
  }
  JsonField operator[](std::size_t index) const { return {file_, str(path_, "[", index, "]")}; }

  const std::string& file() const { return file_; }
  std::string where() const { return path_.empty() ? str("'", file_, "'") : str("'", file_, "' field '", path_, "'"); }

  // Typed members of the object at this field (errors name the file and the full field path).
  template <typename T>
  T get(const Json& obj, const std::string& key) const {
    return json_get<T>(obj, key, where());
  }
  template <typename T>
  T get_or(const Json& obj, const std::string& key, const T& fallback) const {
    return json_get_or<T>(obj, key, fallback, where());
  }
  // The member `key` of `obj`, which must exist and be non-null.
  const Json& child(const Json& obj, const std::string& key) const {
    FQ_CHECK(obj.is_object(), where(), ": expected a JSON object, got ", obj.type_name());
    auto it = obj.find(key);
    FQ_CHECK(it != obj.end() && !it->is_null(), where(), ": missing required field '", key, "'");
    return *it;
  }

 private:
  std::string file_;
  std::string path_;
};

}  // namespace fq::io::tok
