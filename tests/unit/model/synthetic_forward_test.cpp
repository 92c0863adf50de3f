// The forward pass on synthetic checkpoints (flatquant make-model): planting outlier channels must not
// change what the model computes. Power-of-two factors make the planted products exact, so float32 logits
// of the planted and the plain checkpoint agree to rounding of the few sums that reorder.
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "lib/io/checkpoint.h"
#include "lib/model/causal_lm.h"
#include "lib/model/synthetic_checkpoint.h"
#include "lib/model/synthetic_tokenizer.h"
#include "tests/support/shared_dir.h"
#include "tests/support/random_layers.h"

namespace fq::model {
namespace {

constexpr double kPlantedRelTol = 1e-5;
constexpr std::uint64_t kSeed = 99;

std::string write_tiny(const std::string& name, io::ModelFamily family, bool outliers) {
  SyntheticCheckpointOptions o;
  o.config = synthetic_config(SyntheticPreset::kTiny, family, /*layers=*/2);
  o.seed = kSeed;
  o.outliers = outliers;
  o.tokenizer_json = byte_level_bpe_tokenizer({}).dump();
  const std::string dir = fq::test::scratch_dir(name) + "/model";
  write_synthetic_checkpoint(dir, o);
  return dir;
}

TEST(SyntheticForward, PlantedOutliersPreserveTheFunction) {
  for (io::ModelFamily family : {io::ModelFamily::kLlama, io::ModelFamily::kDeepseekV3}) {
    const bool llama = family == io::ModelFamily::kLlama;
    const io::Checkpoint plain(write_tiny(llama ? "synthetic_llama_plain" : "synthetic_ds_plain", family, false));
    const io::Checkpoint planted(write_tiny(llama ? "synthetic_llama_planted" : "synthetic_ds_planted", family, true));
    int64_t planted_tensors = 0;  // the check means something only if planting changed weights
    for (const std::string& name : plain.names())
      planted_tensors += !at::equal(plain.load_raw(name), planted.load_raw(name));
    EXPECT_GT(planted_tensors, 0) << plain.config().model_type;
    at::manual_seed(5);
    const at::Tensor ids = at::randint(0, plain.config().vocab_size, {2, 32}, at::kLong);
    const at::Tensor expected = causal_lm_logits(plain, ids, ModelOptions{});
    const double err = test::relative_l2(causal_lm_logits(planted, ids, ModelOptions{}), expected);
    EXPECT_LT(err, kPlantedRelTol) << plain.config().model_type << " with " << planted_tensors << " planted tensors";
  }
}

}  // namespace
}  // namespace fq::model
