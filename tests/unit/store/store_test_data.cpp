#include "tests/unit/store/store_test_data.h"

#include <vector>

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace fq::store::test {
namespace {

// Bit patterns of 16-bit floats that conversions like to lose.
const std::vector<std::uint16_t> kBf16Specials = {
    0x0000, 0x8000,          // +0, -0
    0x7F80, 0xFF80,          // +inf, -inf
    0x7FC0, 0xFFC1, 0x7F81,  // quiet NaN, negative quiet NaN with payload, signalling NaN
    0x0001, 0x807F,          // smallest subnormal, largest negative subnormal
    0x7F7F, 0xFF7F, 0x0080,  // largest finite, most negative finite, smallest normal
};
const std::vector<std::uint16_t> kFp16Specials = {
    0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x7C01, 0x0001, 0x83FF, 0x7BFF, 0xFBFF, 0x0400,
};
const std::vector<std::uint32_t> kFp32Specials = {
    0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00001,
    0x7F800001, 0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000,
};

}  // namespace

at::Tensor activations_with_special_values(c10::ScalarType dtype, std::int64_t n, std::int64_t seqlen,
                                           std::int64_t hidden, std::uint64_t seed) {
  at::Generator generator = at::detail::createCPUGenerator(seed);
  at::Tensor values = at::randn({n, seqlen, hidden}, generator, at::TensorOptions().dtype(at::kFloat));
  // Outliers, as activations have in a few channels.
  at::Tensor outlier = at::rand({n, seqlen, hidden}, generator, at::TensorOptions().dtype(at::kFloat)) < 0.01;
  values = at::where(outlier, values * 1000, values).to(dtype);

  at::Tensor flat = values.view({-1});
  if (dtype == at::kFloat) {
    at::Tensor bits = flat.view(at::kInt);
    for (size_t i = 0; i < kFp32Specials.size() && static_cast<std::int64_t>(i) < bits.numel(); ++i) {
      bits[static_cast<std::int64_t>(i)] = static_cast<std::int32_t>(kFp32Specials[i]);
    }
  } else {
    const std::vector<std::uint16_t>& specials = dtype == at::kBFloat16 ? kBf16Specials : kFp16Specials;
    at::Tensor bits = flat.view(at::kShort);
    for (size_t i = 0; i < specials.size() && static_cast<std::int64_t>(i) < bits.numel(); ++i) {
      bits[static_cast<std::int64_t>(i)] = static_cast<std::int16_t>(specials[i]);
    }
  }
  return values;
}

bool bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  if (a.numel() == 0) return true;
  const at::Tensor a_bytes = a.contiguous().view(-1).view(at::kByte);
  const at::Tensor b_bytes = b.contiguous().view(-1).view(at::kByte);
  return at::equal(a_bytes, b_bytes);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string error_of(const std::function<void()>& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace fq::store::test
