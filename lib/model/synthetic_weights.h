// Random weights for synthetic checkpoints (flatquant make-model), with the outlier channels real LLMs have.
//
// Every weight is `mean + std * N(0, 1)` from a counter-based generator: element i of a tensor depends only
// on (seed, tensor name, i), so any row block of any tensor can be generated alone, in parallel, with the
// same result however the work is split (and, for a given build and C library, on every run). That is what lets
// make-model stream a 22 GB DeepSeek layer through a few chunks of memory, and lets tests regenerate any tensor to
// compare with what was written.
//
// Outliers are planted function-preservingly (shared/README.md): a few channels of a norm weight are scaled
// up and the columns of the linears that consume that norm's output are scaled down by the same factor; a
// few rows of up_proj (or of the value projection) are scaled up and the consuming columns of down_proj
// (o_proj) down. Factors are powers of two, so a planted BF16 weight is exactly the unplanted one times the
// factor: the model computes the same function, while its activations get the massive channels that make
// round-to-nearest W4A4 collapse.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/io/model_config.h"
#include "lib/io/safetensors.h"

namespace fq::model {

// Standard normal samples [first, first + count) of stream `key` (Box-Muller on a counter hash).
void fill_standard_normal(std::uint64_t key, std::uint64_t first, float* out, int64_t count);

// Channel `index` multiplied by `factor` (a power of two).
struct ChannelScale {
  int64_t index;
  float factor;
};

// How to generate one tensor of a synthetic checkpoint.
struct WeightRecipe {
  std::string name;
  std::vector<int64_t> shape;  // [out, in] for linears, [n] for norms and biases
  io::StDtype dtype;           // as stored: BF16, F32, or F8_E4M3 (then `<name>_scale_inv` follows it)
  float mean = 0.0f;
  float std = 0.02f;
  std::vector<ChannelScale> row_scales;  // rows (elements of a 1-D tensor) multiplied
  std::vector<ChannelScale> col_scales;  // columns multiplied
  int64_t layer = -1;                    // decoder layer; -1 for embeddings, final norm, lm_head

  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t cols() const;
  std::uint64_t stored_bytes() const;  // the weight plus its scale_inv when FP8
};

// FP8 block size of synthetic FP8 checkpoints, as DeepSeek V3's release.
constexpr int64_t kSyntheticFp8Block = 128;

// Every tensor of a checkpoint for `config` (its first config.num_hidden_layers layers), in file order:
// embeddings, layers, final norm, lm_head (unless tied). `fp8` stores the 2-D linears of the layers as
// F8_E4M3 (not embeddings, norms, router or lm_head); `outliers` plants the channels described above.
std::vector<WeightRecipe> synthetic_weight_recipes(const io::ModelConfig& config, std::uint64_t seed, bool fp8,
                                                   bool outliers);

// Rows [row_begin, row_end) of a recipe in float32 as generated (planting applied, before storage
// rounding): [rows, cols], or [n] for 1-D tensors.
at::Tensor synthesize_rows(const WeightRecipe& recipe, std::uint64_t seed, int64_t row_begin, int64_t row_end);

// The same rows as stored: BF16/F32, or for FP8 the uint8 codes plus their block scales
// ([ceil(rows / 128), ceil(cols / 128)] float32; row_begin must be a multiple of 128).
struct StoredRows {
  at::Tensor data;
  at::Tensor scale_inv;  // FP8 only
};
StoredRows synthesize_stored_rows(const WeightRecipe& recipe, std::uint64_t seed, int64_t row_begin, int64_t row_end);

}  // namespace fq::model
