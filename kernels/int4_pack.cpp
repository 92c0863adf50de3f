#include "kernels/int4_pack.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace fq::kernels {

at::Tensor pack_int4(const at::Tensor& codes, bool symmetric, const char* what) {
  FQ_CHECK(codes.defined() && codes.dim() >= 1, "pack_int4: tensor '", what, "' must have at least one dimension");
  FQ_CHECK(!at::isFloatingType(codes.scalar_type()) && codes.scalar_type() != at::kBool,
           "pack_int4: tensor '", what, "' must hold integer codes, got ", codes.scalar_type());
  const int64_t n = codes.size(-1);
  FQ_CHECK(n % 2 == 0, "pack_int4: tensor '", what, "' has an odd last dimension ", n, " (two codes per byte)");
  const int64_t lo = symmetric ? -8 : 0;
  const int64_t hi = symmetric ? 7 : 15;
  if (codes.numel() > 0) {
    const int64_t cmin = codes.min().item<int64_t>();
    const int64_t cmax = codes.max().item<int64_t>();
    FQ_CHECK(cmin >= lo && cmax <= hi, "pack_int4: tensor '", what, "' holds codes in [", cmin, ", ", cmax,
             "], outside the ", symmetric ? "symmetric" : "asymmetric", " int4 range [", lo, ", ", hi, "]");
  }
  // Two's complement nibbles: the low four bits of the int32 value.
  const at::Tensor c = codes.to(at::kInt).bitwise_and(0xF);
  const at::Tensor even = c.slice(-1, 0, n, 2);
  const at::Tensor odd = c.slice(-1, 1, n, 2);
  return even.bitwise_or(odd.bitwise_left_shift(4)).to(at::kByte).contiguous();
}

at::Tensor unpack_int4(const at::Tensor& packed, bool symmetric, const char* what) {
  FQ_CHECK(packed.defined() && packed.dim() >= 1 && packed.scalar_type() == at::kByte, "unpack_int4: tensor '",
           what, "' must be uint8 with at least one dimension");
  const at::Tensor p = packed.to(at::kInt);
  at::Tensor lo = p.bitwise_and(0xF);
  at::Tensor hi = p.bitwise_right_shift(4).bitwise_and(0xF);
  if (symmetric) {  // sign-extend the 4-bit two's complement values
    lo = lo - lo.ge(8).to(at::kInt) * 16;
    hi = hi - hi.ge(8).to(at::kInt) * 16;
  }
  std::vector<int64_t> shape = packed.sizes().vec();
  shape.back() *= 2;
  return at::stack({lo, hi}, -1).reshape(shape).to(at::kChar);
}

}  // namespace fq::kernels
