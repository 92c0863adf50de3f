// The whole-model comparisons of the evaluation backends (tests/parity CPU, tests/gpu CUDA): the tiny
// reference models with random frozen FlatQuant parameters (no calibration: seconds instead of minutes,
// and every transform and clip kind is present), perplexity of the first windows of kjv.test.txt.
#pragma once

#include <cstdint>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "lib/flat/frozen_layer.h"
#include "pipelines/config/run_config.h"

namespace fq::test {

struct BackendPerplexity {
  double perplexity = 0;
  flat::WeightMemory memory;
};

// `model`: a directory under ../shared/models. W4A4 with `quant`'s settings on `backend`, first `windows`
// windows of 256 tokens of kjv.test.txt, random frozen parameters from a fixed seed.
BackendPerplexity backend_perplexity(const std::string& model, const pipelines::QuantConfig& quant,
                                     flat::QuantBackend backend, c10::Device device, c10::ScalarType dtype,
                                     int64_t windows);

// The same model on the fake backend with bf16-rounded linear outputs (flat::test::Bf16OutputFake).
double bf16_output_fake_perplexity(const std::string& model, const pipelines::QuantConfig& quant, c10::Device device,
                                   c10::ScalarType dtype, int64_t windows);

}  // namespace fq::test
