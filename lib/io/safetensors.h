// safetensors files (REFERENCE.md section 1): validated, memory-mapped, lazy reads of single tensors,
// and an atomic writer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace fq::io {

// Element types as safetensors names them.
enum class StDtype { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kF8E4M3, kF8E5M2 };

const char* st_dtype_name(StDtype dtype);
std::size_t st_dtype_bytes(StDtype dtype);

struct TensorInfo {
  std::string name;
  StDtype dtype;
  std::vector<int64_t> shape;
  std::uint64_t begin = 0;  // offsets relative to the start of the data buffer
  std::uint64_t end = 0;
};

// One .safetensors file, memory-mapped read-only. The header is validated on open (size bound, JSON,
// dtypes, shapes vs byte ranges, ordered contiguous non-overlapping offsets covering the whole buffer, no
// duplicates, buffer length); every failure throws fq::Error naming the file (and tensor).
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&&) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const;
  bool contains(const std::string& name) const;
  const TensorInfo& info(const std::string& name) const;  // throws naming file and tensor when absent
  std::vector<std::string> names() const;                 // in file order
  const std::map<std::string, std::string>& metadata() const;

  // Copies one tensor out of the mapping into a new CPU tensor of its stored type. FP8 tensors come back
  // as uint8 (raw bytes; see fp8_e4m3.h to decode). Only this tensor's pages are touched.
  at::Tensor read(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Writes tensors (CPU, contiguous; any of the types above; FP8 passed as uint8 with `fp8_names` listing
// which names to label F8_E4M3) to `path` atomically, in the given order, with optional __metadata__.
struct NamedTensor {
  std::string name;
  at::Tensor tensor;
  bool fp8_e4m3 = false;
};
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace fq::io
