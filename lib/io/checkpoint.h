// A Hugging Face checkpoint directory: config.json plus one model.safetensors or shards listed in
// model.safetensors.index.json. Tensors are read lazily by name; FP8 block-quantized weights
// (`<name>.weight_scale_inv` beside them) are dequantized on load.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "lib/io/model_config.h"
#include "lib/io/safetensors.h"

namespace fq::io {

class Checkpoint {
 public:
  // Opens `dir`: parses config.json (model_config.h) and the index or the single file; a missing shard
  // named by the index is an error naming the index and the shard.
  explicit Checkpoint(const std::string& dir);
  ~Checkpoint();
  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;

  const std::string& dir() const;
  const ModelConfig& config() const;
  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  // Name, stored dtype, shape and byte range of a tensor, from its shard's header (no data is read).
  const TensorInfo& info(const std::string& name) const;

  // Loads `name` onto `device` as `dtype`. An F8_E4M3 weight is dequantized with its `<name>_scale_inv`
  // (the config's weight_block_size, 128x128 when the config has none; float32 math) first; an F8_E4M3
  // tensor without one is decoded as is. Throws naming the checkpoint and the tensor when absent.
  // Thread-safe; shards are opened on first use and stay open (mapped, not resident).
  at::Tensor load(const std::string& name, c10::ScalarType dtype, c10::Device device = c10::kCPU) const;
  // The tensor exactly as stored (FP8 as uint8), for round-trip checks.
  at::Tensor load_raw(const std::string& name) const;

  // A stable fingerprint of the checkpoint (config.json bytes + tensor names, dtypes, shapes and sizes +
  // the first and last 4 KiB of every shard's data, so that two fine-tunes of one architecture differ),
  // recorded in run manifests so that a run directory is never resumed against another model. Opens
  // every shard and reads 8 KiB of each.
  std::string fingerprint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fq::io
