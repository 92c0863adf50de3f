#include "tests/support/kernel_inputs.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace fq::test {
namespace {

at::Generator seeded(uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return gen;
}

}  // namespace

at::Tensor activations_with_outliers(int64_t rows, int64_t n, uint64_t seed) {
  at::Generator gen = seeded(seed);
  at::Tensor x = at::randn({rows, n}, gen, at::TensorOptions().dtype(at::kFloat));
  at::Tensor channel = at::ones({n}, at::kFloat);
  channel.slice(0, 5, n, 37).fill_(40.0f);
  at::Tensor row = at::ones({rows, 1}, at::kFloat);
  row.slice(0, 3, rows, 8).fill_(6.0f);
  return (x * channel * row).contiguous();
}

at::Tensor random_factor(int64_t n, uint64_t seed) {
  at::Generator gen = seeded(seed);
  const at::Tensor g = at::randn({n, n}, gen, at::TensorOptions().dtype(at::kDouble));
  const auto qr = at::linalg_qr(g);
  const at::Tensor q = std::get<0>(qr) * std::get<1>(qr).diagonal().sign().unsqueeze(0);
  const at::Tensor d = at::rand({n}, gen, at::TensorOptions().dtype(at::kDouble)) * 1.5 + 0.5;
  return (q * d.unsqueeze(0)).to(at::kFloat).contiguous();
}

at::Tensor random_codes(at::IntArrayRef shape, int64_t lo, int64_t hi, uint64_t seed) {
  at::Generator gen = seeded(seed);
  return at::randint(lo, hi + 1, shape, gen, at::TensorOptions().dtype(at::kLong)).to(at::kChar);
}

}  // namespace fq::test
