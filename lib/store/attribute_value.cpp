#include "lib/store/attribute_value.h"

#include <iomanip>
#include <limits>
#include <sstream>

#include "lib/core/error.h"

namespace fq::store {

const std::string& AttributeValue::text() const {
  FQ_ASSERT(kind() == Kind::kString, "attribute value ", to_string(), " is not a string");
  return std::get<std::string>(value_);
}

std::int64_t AttributeValue::integer() const {
  FQ_ASSERT(kind() == Kind::kInt, "attribute value ", to_string(), " is not an integer");
  return std::get<std::int64_t>(value_);
}

double AttributeValue::real() const {
  FQ_ASSERT(kind() == Kind::kDouble, "attribute value ", to_string(), " is not a double");
  return std::get<double>(value_);
}

std::string AttributeValue::to_string() const {
  switch (kind()) {
    case Kind::kString:
      return "'" + std::get<std::string>(value_) + "'";
    case Kind::kInt:
      return std::to_string(std::get<std::int64_t>(value_));
    case Kind::kDouble: {
      std::ostringstream out;
      out << std::setprecision(std::numeric_limits<double>::max_digits10) << std::get<double>(value_);
      return out.str();
    }
  }
  return "";
}

const char* AttributeValue::kind_name(Kind kind) {
  switch (kind) {
    case Kind::kString:
      return "string";
    case Kind::kInt:
      return "int64";
    case Kind::kDouble:
      return "double";
  }
  return "?";
}

}  // namespace fq::store
