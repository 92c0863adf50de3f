// The layout of an activation file, shared by ActivationWriter and ActivationReader:
//   dataset "activations" [nsamples, seqlen, hidden] in bfloat16, float16 or float32, one chunk per sample
//   ([1, seqlen, hidden], so that a batch of samples is a run of whole chunks), with the attributes
//   "layer" (int64), "dtype" (string) and whatever the writer's caller added (model fingerprint, ...).
#pragma once

#include <cstdint>
#include <string>

#include <c10/core/ScalarType.h>

namespace fq::store {

inline constexpr const char* kActivationDataset = "activations";
inline constexpr const char* kLayerAttribute = "layer";

// bfloat16, float16 and float32: the types activations are stored in.
inline bool is_activation_dtype(c10::ScalarType type) {
  return type == c10::kBFloat16 || type == c10::kHalf || type == c10::kFloat;
}

struct ActivationShape {
  std::int64_t nsamples = 0;
  std::int64_t seqlen = 0;
  std::int64_t hidden = 0;

  bool operator==(const ActivationShape& other) const {
    return nsamples == other.nsamples && seqlen == other.seqlen && hidden == other.hidden;
  }
  bool operator!=(const ActivationShape& other) const { return !(*this == other); }
  // "[nsamples, seqlen, hidden]"
  std::string to_string() const;
};

}  // namespace fq::store
