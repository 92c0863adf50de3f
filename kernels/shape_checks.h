// Argument checks of the kernel entry points. Each throws fq::Error with a message naming the operation,
// the tensor and the expected versus actual shape or dtype (after llama.cpp's loader and ATen's TORCH_CHECK).
#pragma once

#include <cstdint>
#include <initializer_list>

#include <ATen/core/Tensor.h>

namespace fq::kernels {

// `t` is defined and has `rank` dimensions.
void check_rank(const at::Tensor& t, int64_t rank, const char* op, const char* name);

// `t` has exactly the sizes `expected` (-1 matches any size) and the dtype `dtype`.
void check_shape(const at::Tensor& t, std::initializer_list<int64_t> expected, at::ScalarType dtype, const char* op,
                 const char* name);

// `t` is on the same device as `like` (named `like_name`).
void check_same_device(const at::Tensor& t, const at::Tensor& like, const char* op, const char* name,
                       const char* like_name);

}  // namespace fq::kernels
