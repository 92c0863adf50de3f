// The fake-quant backend with every quantized linear's output rounded to bf16, as the W4A4 GEMM returns
// it: the int4 backend must reproduce this to float32 rounding (same codes everywhere), whereas plain fake
// outputs differ by the rounding, amplified by every later 4-bit quantizer.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "lib/flat/frozen_layer.h"

namespace fq::flat::test {

class Bf16OutputFake : public FrozenLayer {
 public:
  using FrozenLayer::FrozenLayer;
  at::Tensor linear(model::LinearSite site, const at::Tensor& x, const at::Tensor& weight) override {
    const at::Tensor y = FrozenLayer::linear(site, x, weight);
    return site == model::LinearSite::kKVB ? y : y.to(at::kBFloat16).to(y.scalar_type());  // kv_b stays high precision
  }
  at::Tensor expert_linear(model::ExpertSite site, const at::Tensor& x_sorted, const std::vector<int64_t>& counts,
                           const at::Tensor& stacked_weight) override {
    return FrozenLayer::expert_linear(site, x_sorted, counts, stacked_weight).to(at::kBFloat16).to(x_sorted.scalar_type());
  }
};

}  // namespace fq::flat::test
