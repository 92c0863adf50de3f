// Where a value sits in a tokenizer.json, for error messages: "'/m/tokenizer.json' field
// 'pre_tokenizer.pretokenizers[1].pattern'".
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/io/tokenizer/utf8.h"

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

// The one character `text` must hold (decoder Strip content, Metaspace replacement).
inline char32_t single_character(const std::string& text, const JsonField& field) {
  FQ_CHECK(!text.empty() && find_invalid_utf8(text) == std::string::npos, field.where(),
           ": expected exactly one character, got '", text, "'");
  std::size_t pos = 0;
  const char32_t c = next_code_point(text, &pos);
  FQ_CHECK(pos == text.size(), field.where(), ": expected exactly one character, got '", text, "'");
  return c;
}

// The components listed in the array `obj[key]` (a Sequence's steps), each made by
// `parse(element, field_of_element)`; null elements are skipped.
template <typename T, typename Parse>
std::vector<std::unique_ptr<T>> parse_component_list(const Json& obj, const std::string& key, const JsonField& field,
                                                     Parse parse) {
  const Json& list = field.child(obj, key);
  const JsonField list_field = field / key;
  FQ_CHECK(list.is_array(), list_field.where(), ": expected an array");
  std::vector<std::unique_ptr<T>> steps;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (auto step = parse(list[i], list_field[i])) steps.push_back(std::move(step));
  }
  return steps;
}

}  // namespace fq::io::tok
