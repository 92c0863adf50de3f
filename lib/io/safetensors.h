// safetensors files (REFERENCE.md section 1): validated, memory-mapped, lazy reads of single tensors,
// and an atomic writer.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

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
  // as uint8 (raw bytes; see fp8_e4m3.h to decode). Only this tensor's pages are touched, and they are
  // released again; a tensor of 1 MiB or more lives in its own anonymous mapping, returned to the system
  // as soon as the tensor is freed. Thread-safe.
  at::Tensor read(const std::string& name) const;

  // The data buffer's size, and a copy of its bytes [begin, begin + count) (checkpoint fingerprints
  // sample a few pages). Throws naming the file when the range exceeds the buffer.
  std::uint64_t data_size() const;
  std::string read_data(std::uint64_t begin, std::uint64_t count) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses a dtype name as safetensors writes it ("BF16", "F8_E4M3"); throws naming `where` when unknown.
StDtype parse_st_dtype(const std::string& name, const std::string& where);
// The LibTorch type a tensor of `dtype` is read into (FP8 as uint8, which LibTorch 1.13 lacks).
c10::ScalarType st_dtype_to_scalar(StDtype dtype);
// The safetensors type of a LibTorch type (uint8 is U8; FP8 is labelled explicitly by the caller).
StDtype scalar_to_st_dtype(c10::ScalarType type, const std::string& where);

// Writes tensors (CPU, contiguous; any of the types above; FP8 passed as uint8 with `fp8_e4m3` set to
// label it F8_E4M3) to `path` atomically, in the given order, with optional __metadata__.
struct NamedTensor {
  std::string name;
  at::Tensor tensor;
  bool fp8_e4m3 = false;
};
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// What a streaming writer is told up front about each tensor.
struct TensorSpec {
  std::string name;
  StDtype dtype;
  std::vector<int64_t> shape;
};

// Streams a safetensors file larger than memory: the header (names, dtypes, shapes, hence offsets) is
// written first, then each tensor's bytes are appended in the declared order, possibly in several parts
// (row blocks), so that only one part is ever in memory. The data goes to a temporary name; finish()
// checks that every byte was written, fsyncs and renames. A writer destroyed before finish() removes its
// temporary file, so a crash or an exception never leaves a half-written file under `path`.
class SafetensorsWriter {
 public:
  SafetensorsWriter(std::string path, std::vector<TensorSpec> specs,
                    const std::map<std::string, std::string>& metadata = {{"format", "pt"}});
  ~SafetensorsWriter();
  SafetensorsWriter(SafetensorsWriter&&) noexcept;
  SafetensorsWriter& operator=(SafetensorsWriter&&) noexcept;
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  // Appends `part` (CPU; its element size must match the declared dtype's) to tensor `name`, which must
  // be the tensor in progress or, once that one is complete, the next declared one. Throws naming the
  // file and tensor on a name out of order, a wrong element size, or more bytes than declared.
  void append(const std::string& name, const at::Tensor& part);
  void finish();

  const std::string& path() const;
  std::uint64_t total_bytes() const;    // header + data, the final file size
  std::uint64_t written_bytes() const;  // so far, header included

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace fq::io
