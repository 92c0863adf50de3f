// Writes one layer's input activations [nsamples, seqlen, hidden] to an HDF5 file (activation_layout.h),
// crash-safe: the data goes to a temporary file that commit() renames to `path`; a writer destroyed
// without commit() (an exception, a stop signal) deletes it, so `path` either does not exist or is
// complete. Not thread-safe; one writer per file.
//
//   ActivationWriterOptions options;
//   options.attributes = {{"model_fingerprint", fingerprint_hex}};
//   ActivationWriter writer(dir + "/layer_003.h5", 3, {128, 4096, 7168}, at::kBFloat16, options);
//   for (...) writer.write(begin, hidden_states);   // [n, 4096, 7168], CPU or CUDA
//   writer.commit();
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/store/activation_layout.h"
#include "lib/store/attribute_value.h"
#include "lib/store/h5_file.h"

namespace fq::store {

struct ActivationWriterOptions {
  // Extra dataset attributes (model fingerprint, config hash, ...). "layer" and "dtype" are reserved.
  Attributes attributes;
  // gzip level 1-9 after a byte shuffle, or 0 (default): raw chunks. bf16 activations have nearly random
  // mantissas, so deflate saves little space and costs CPU time on both sides (apps/bench/bench_activation_store).
  int deflate_level = 0;
};

class ActivationWriter {
 public:
  // `dtype`: bfloat16, float16 or float32. Creates the temporary file and the dataset at once.
  ActivationWriter(std::string path, std::int64_t layer, ActivationShape shape, c10::ScalarType dtype,
                   ActivationWriterOptions options = {});
  ~ActivationWriter();
  ActivationWriter(ActivationWriter&&) noexcept = default;
  ActivationWriter& operator=(ActivationWriter&&) = delete;
  ActivationWriter(const ActivationWriter&) = delete;
  ActivationWriter& operator=(const ActivationWriter&) = delete;

  // Stores samples [sample_begin, sample_begin + n) from `x: [n, seqlen, hidden]` (any device, any floating
  // type: converted to the stored dtype on its device, then copied to the CPU). Rewriting a sample replaces it.
  void write(std::int64_t sample_begin, const at::Tensor& x);

  // Checks that every sample was written, closes, fsyncs and renames the file to path().
  void commit();

  const std::string& path() const { return file_.path(); }
  const ActivationShape& shape() const { return shape_; }
  c10::ScalarType dtype() const { return dtype_; }
  std::int64_t samples_written() const { return samples_written_; }

 private:
  ActivationShape shape_;
  c10::ScalarType dtype_;
  PendingH5File file_;
  H5Datatype stored_type_;
  H5Dataset dataset_;          // after file_: closed before it
  std::vector<bool> written_;  // per sample
  std::int64_t samples_written_ = 0;
};

}  // namespace fq::store
