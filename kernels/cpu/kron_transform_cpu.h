// Reference of the frozen Kronecker transform in ATen (kernels/kron_transform.h). Device-agnostic: on the
// CPU it is the evaluation path, on CUDA tensors the kFloat32 path of kron_transform_quantize.
#pragma once

#include <ATen/core/Tensor.h>

#include "kernels/kron_transform.h"

namespace fq::kernels {

// x: floating-point [rows, n]. Returns float32 [rows, n] = (x * d) @ kron(L, R), rounded as `precision` says.
at::Tensor kron_transform_ref(const at::Tensor& x, const KronTransform& t, TransformPrecision precision);

}  // namespace fq::kernels
