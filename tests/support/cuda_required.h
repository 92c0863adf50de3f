// Skips a GPU test with a message naming what is missing: CUDA support in this build (FLATQUANT_HAVE_CUDA,
// set when a CUDA LibTorch and nvcc are found) or a visible CUDA device.
#pragma once

#include <ATen/Context.h>
#include <gtest/gtest.h>

#ifdef FLATQUANT_HAVE_CUDA
#define FQ_REQUIRE_CUDA()                                                                                      \
  do {                                                                                                         \
    if (!at::hasCUDA())                                                                                        \
      GTEST_SKIP() << "no CUDA device is visible (the build has CUDA kernels, but at::hasCUDA() is false)";    \
  } while (0)
#else
#define FQ_REQUIRE_CUDA()                                                                                      \
  GTEST_SKIP() << "flatquant was built without CUDA (FLATQUANT_HAVE_CUDA is off: configure against a CUDA "  \
                  "LibTorch with nvcc on the PATH)"
#endif
