// Values of HDF5 attributes as lib/store reads and writes them: a string (also JSON text), an int64 or a
// double, each a scalar attribute.
//
// Strings are written as fixed-length, NUL-terminated UTF-8 (h5py reads them as bytes), not as the
// variable-length strings h5py writes for Python str: those live in HDF5's global heap, which has no
// checksum, and a damaged heap makes HDF5 crash or hang while reading. Fixed-length strings live in the
// object header, whose checksum turns damage into an error. Both kinds are read.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <variant>

namespace fq::store {

class AttributeValue {
 public:
  enum class Kind { kString, kInt, kDouble };

  AttributeValue(std::string text) : value_(std::move(text)) {}    // NOLINT: implicit on purpose
  AttributeValue(const char* text) : value_(std::string(text)) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  AttributeValue(T value) : value_(static_cast<std::int64_t>(value)) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  AttributeValue(T value) : value_(static_cast<double>(value)) {}  // NOLINT
  AttributeValue(bool) = delete;  // store flags as integers, so that files stay plain for other readers

  Kind kind() const { return static_cast<Kind>(value_.index()); }
  // Each accessor requires its kind (an internal invariant: check kind() first).
  const std::string& text() const;
  std::int64_t integer() const;
  double real() const;

  // For messages: 'text' quoted, numbers as numbers.
  std::string to_string() const;
  static const char* kind_name(Kind kind);

  bool operator==(const AttributeValue& other) const { return value_ == other.value_; }
  bool operator!=(const AttributeValue& other) const { return !(*this == other); }

 private:
  std::variant<std::string, std::int64_t, double> value_;
};

// Attributes of one HDF5 object by name.
using Attributes = std::map<std::string, AttributeValue>;

}  // namespace fq::store
