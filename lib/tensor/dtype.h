// Names of tensor element types as they appear in configs, files and logs.
#pragma once

#include <string>

#include <c10/core/ScalarType.h>

namespace fq {

// "float32"/"fp32", "bfloat16"/"bf16", "float16"/"fp16", "float64"/"fp64". Throws fq::Error naming `where`.
c10::ScalarType parse_float_dtype(const std::string& name, const std::string& where);
std::string dtype_name(c10::ScalarType type);

}  // namespace fq
