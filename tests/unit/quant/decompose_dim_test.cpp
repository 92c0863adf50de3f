#include "lib/quant/decompose_dim.h"

#include <gtest/gtest.h>

#include "lib/core/error.h"

namespace fq::quant {
namespace {

// Expected pairs computed independently from the definition in ALGORITHM.md (Python, exact integers).
TEST(DecomposeDim, MatchesTableOfModelSizes) {
  const struct {
    int64_t n, n1, n2;
  } table[] = {
      {256, 16, 16},    {704, 22, 32},     {768, 24, 32},     {1536, 32, 48},    {2048, 32, 64},
      {4096, 64, 64},   {7168, 64, 112},   {8192, 64, 128},   {14336, 112, 128}, {18432, 128, 144},
      {28672, 128, 224}, {11008, 86, 128}, {16384, 128, 128}, {512, 16, 32},     {128, 8, 16},
      {96, 8, 12},      {32, 4, 8},        {8, 2, 4},
  };
  for (const auto& row : table) {
    auto [n1, n2] = decompose_dim(row.n);
    EXPECT_EQ(n1, row.n1) << "n=" << row.n;
    EXPECT_EQ(n2, row.n2) << "n=" << row.n;
    EXPECT_EQ(n1 * n2, row.n);
    EXPECT_LE(n1, n2);
  }
}

TEST(DecomposeDim, RejectsSizesWithoutUsefulDecomposition) {
  for (int64_t n : {1, 2, 3, 6, 13, 127, 4099, 4098}) {
    try {
      decompose_dim(n);
      FAIL() << "expected an error for n=" << n;
    } catch (const fq::Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::to_string(n)), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace fq::quant
