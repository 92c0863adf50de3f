// The packed int4 format shared by activations, weights and the KV cache.
//
// Two codes per byte along the last dimension: element 2j in the LOW nibble, 2j+1 in the HIGH nibble.
// Symmetric codes (-8..7) are stored as 4-bit two's complement, asymmetric codes (0..15) as unsigned
// nibbles. A tensor of codes [..., n] packs into uint8 [..., n/2]. Written with ATen ops, so both
// functions run on whatever device the tensor lives on.
#pragma once

#include <ATen/core/Tensor.h>

namespace fq::kernels {

// codes: integer tensor [..., n] (n even) with values in -8..7 (symmetric) or 0..15 (asymmetric).
// Returns uint8 [..., n/2]. Throws fq::Error naming `what` when n is odd or a code is out of range.
at::Tensor pack_int4(const at::Tensor& codes, bool symmetric, const char* what = "codes");

// packed: uint8 [..., n/2]. Returns int8 codes [..., n], sign-extended when `symmetric`.
at::Tensor unpack_int4(const at::Tensor& packed, bool symmetric, const char* what = "packed");

}  // namespace fq::kernels
