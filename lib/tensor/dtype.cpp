#include "lib/tensor/dtype.h"

#include "lib/core/error.h"

namespace fq {

c10::ScalarType parse_float_dtype(const std::string& name, const std::string& where) {
  if (name == "float32" || name == "fp32" || name == "float") return c10::kFloat;
  if (name == "bfloat16" || name == "bf16") return c10::kBFloat16;
  if (name == "float16" || name == "fp16" || name == "half") return c10::kHalf;
  if (name == "float64" || name == "fp64" || name == "double") return c10::kDouble;
  throw Error(str(where, ": unknown floating type '", name, "' (expected float32, bfloat16, float16 or float64)"));
}

std::string dtype_name(c10::ScalarType type) {
  switch (type) {
    case c10::kFloat: return "float32";
    case c10::kBFloat16: return "bfloat16";
    case c10::kHalf: return "float16";
    case c10::kDouble: return "float64";
    default: return c10::toString(type);
  }
}

}  // namespace fq
