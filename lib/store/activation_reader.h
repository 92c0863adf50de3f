// Reads a layer's activation file (activation_layout.h) in batches of samples.
//
// The constructor validates the whole file before any read: it opens (a missing, truncated or garbage file
// is an fq::Error naming it), finds the dataset, checks rank 3, the element type against the `dtype`
// attribute, that every sample was written, and the caller's expectations (layer, shape, dtype, attribute
// values): a mismatch names the file, the field, the expected and the actual value. Not thread-safe; give
// each thread its own reader.
//
//   ActivationReaderOptions options;
//   options.expect.shape = ActivationShape{128, 4096, 7168};
//   options.expect.attributes = {{"model_fingerprint", fingerprint_hex}};
//   ActivationReader reader(path, options);
//   at::Tensor x = reader.read(0, 8);   // [8, 4096, 7168] bfloat16 on the CPU
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>

#include "lib/store/activation_layout.h"
#include "lib/store/attribute_value.h"
#include "lib/store/h5_handle.h"

namespace fq::store {

// What the caller knows the file must hold; unset fields are not checked.
struct ActivationExpectations {
  std::optional<std::int64_t> layer;
  std::optional<ActivationShape> shape;
  std::optional<c10::ScalarType> dtype;
  Attributes attributes;  // each must be present with exactly this value
};

struct ActivationReaderOptions {
  ActivationExpectations expect;
  // read() returns page-locked tensors, so that copies to the GPU can be asynchronous. Needs CUDA.
  bool pin_memory = false;
  // HDF5 chunk cache, in chunks (samples). 0 (default): a whole-sample read goes straight from the file
  // into the caller's buffer, since HDF5 bypasses a cache too small for the chunk; a cache that holds the
  // chunk adds a copy through it, which halved warm-read throughput (apps/bench/bench_activation_store).
  // A cache only helps reading parts of a chunk repeatedly, which whole-sample batches never do.
  std::int64_t chunk_cache_chunks = 0;
};

class ActivationReader {
 public:
  explicit ActivationReader(std::string path, const ActivationReaderOptions& options = {});

  // Samples [sample_begin, sample_begin + count) as [count, seqlen, hidden] in the stored dtype, one
  // HDF5 read into a freshly allocated (pinned if asked) CPU tensor.
  at::Tensor read(std::int64_t sample_begin, std::int64_t count) const;
  // The same into a caller's buffer `out: [count, seqlen, hidden]` (CPU, contiguous, stored dtype), e.g. a
  // pinned staging buffer reused across batches.
  void read_into(std::int64_t sample_begin, const at::Tensor& out) const;

  const std::string& path() const { return path_; }
  const ActivationShape& shape() const { return shape_; }
  c10::ScalarType dtype() const { return dtype_; }
  std::int64_t layer() const { return layer_; }
  // Every attribute of the dataset, "layer" and "dtype" included.
  const Attributes& attributes() const { return attributes_; }

 private:
  std::string path_;
  bool pin_memory_;
  H5File file_;
  H5Dataset dataset_;  // after file_: closed before it
  H5Datatype stored_type_;
  ActivationShape shape_;
  c10::ScalarType dtype_ = c10::kBFloat16;
  std::int64_t layer_ = -1;
  Attributes attributes_;
};

}  // namespace fq::store
