// Writing safetensors files: a streaming writer (header first, then tensor bytes in declared order, into
// a temporary file renamed into place at the end) and the whole-list writer built on it.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <unistd.h>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/io/safetensors.h"

namespace fq::io {
namespace {

// The reference writer pads the header with spaces so the data buffer starts 8-byte aligned.
constexpr std::size_t kHeaderAlignment = 8;

std::uint64_t spec_bytes(const TensorSpec& spec) {
  std::uint64_t n = st_dtype_bytes(spec.dtype);
  for (int64_t d : spec.shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

void write_all(int fd, const unsigned char* data, std::uint64_t bytes, const std::string& tmp) {
  while (bytes > 0) {
    ssize_t n = ::write(fd, data, static_cast<std::size_t>(std::min<std::uint64_t>(bytes, 1ull << 30)));
    if (n < 0 && errno == EINTR) continue;
    FQ_CHECK(n > 0, "write to '", tmp, "' failed: ", n < 0 ? std::strerror(errno) : "no progress (disk full?)");
    data += n;
    bytes -= static_cast<std::uint64_t>(n);
  }
}

}  // namespace

struct SafetensorsWriter::Impl {
  std::string path;
  std::string tmp;
  int fd = -1;
  std::vector<TensorSpec> specs;
  std::vector<std::uint64_t> sizes;  // bytes per tensor
  std::size_t current = 0;           // index of the tensor being written
  std::uint64_t current_written = 0;
  std::uint64_t written = 0;
  std::uint64_t total = 0;
  bool finished = false;

  ~Impl() {
    if (fd >= 0) ::close(fd);
    if (!finished && !tmp.empty()) std::remove(tmp.c_str());
  }
  bool current_complete() const { return current_written == sizes[current]; }
};

SafetensorsWriter::SafetensorsWriter(std::string path, std::vector<TensorSpec> specs,
                                     const std::map<std::string, std::string>& metadata)
    : impl_(std::make_unique<Impl>()) {
  Impl& w = *impl_;
  w.path = std::move(path);
  w.specs = std::move(specs);

  // nlohmann::ordered_json keeps the declared order, so the header lists tensors as the data holds them.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) header["__metadata__"][k] = v;
  }
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const TensorSpec& spec : w.specs) {
    FQ_CHECK(!spec.name.empty() && spec.name != "__metadata__", "safetensors file '", w.path,
             "': invalid tensor name '", spec.name, "'");
    FQ_CHECK(names.insert(spec.name).second, "safetensors file '", w.path, "': tensor '", spec.name,
             "' declared twice");
    for (int64_t d : spec.shape) {
      FQ_CHECK(d >= 0, "safetensors file '", w.path, "': tensor '", spec.name, "' has a negative dimension");
    }
    const std::uint64_t bytes = spec_bytes(spec);
    header[spec.name] = {
        {"dtype", st_dtype_name(spec.dtype)}, {"shape", spec.shape}, {"data_offsets", {offset, offset + bytes}}};
    w.sizes.push_back(bytes);
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((kHeaderAlignment - (8 + text.size()) % kHeaderAlignment) % kHeaderAlignment, ' ');
  w.total = 8 + text.size() + offset;

  w.tmp = temp_path_for(w.path);
  w.fd = ::open(w.tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FQ_CHECK(w.fd >= 0, "cannot create '", w.tmp, "': ", std::strerror(errno));
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>((text.size() >> (8 * i)) & 0xff);
  write_all(w.fd, length, 8, w.tmp);
  write_all(w.fd, reinterpret_cast<const unsigned char*>(text.data()), text.size(), w.tmp);
  w.written = 8 + text.size();
}

SafetensorsWriter::~SafetensorsWriter() = default;
SafetensorsWriter::SafetensorsWriter(SafetensorsWriter&&) noexcept = default;
SafetensorsWriter& SafetensorsWriter::operator=(SafetensorsWriter&&) noexcept = default;

void SafetensorsWriter::append(const std::string& name, const at::Tensor& part) {
  Impl& w = *impl_;
  FQ_CHECK(!w.finished, "safetensors file '", w.path, "': append of tensor '", name, "' after finish()");
  // Complete tensors (zero-sized ones are complete from the start) give way to the next declared one.
  while (w.current < w.specs.size() && w.current_complete() && w.specs[w.current].name != name) {
    ++w.current;
    w.current_written = 0;
  }
  FQ_CHECK(w.current < w.specs.size() && w.specs[w.current].name == name, "safetensors file '", w.path, "': tensor '",
           name, "' appended out of the declared order",
           w.current < w.specs.size() ? str(" (expected '", w.specs[w.current].name, "')") : std::string());
  const TensorSpec& spec = w.specs[w.current];
  FQ_CHECK(part.device().is_cpu(), "safetensors file '", w.path, "': tensor '", name, "' is not on the CPU");
  FQ_CHECK(part.scalar_type() == st_dtype_to_scalar(spec.dtype), "safetensors file '", w.path, "': tensor '", name,
           "' is declared ", st_dtype_name(spec.dtype), " but a part of type ", c10::toString(part.scalar_type()),
           " was appended");
  at::Tensor data = part.contiguous();
  const std::uint64_t bytes = static_cast<std::uint64_t>(data.numel()) * data.element_size();
  FQ_CHECK(w.current_written + bytes <= w.sizes[w.current], "safetensors file '", w.path, "': tensor '", name,
           "' receives ", w.current_written + bytes, " bytes but was declared with ", w.sizes[w.current]);
  write_all(w.fd, static_cast<const unsigned char*>(data.data_ptr()), bytes, w.tmp);
  w.current_written += bytes;
  w.written += bytes;
}

void SafetensorsWriter::finish() {
  Impl& w = *impl_;
  FQ_CHECK(!w.finished, "safetensors file '", w.path, "': finish() called twice");
  while (w.current < w.specs.size() && w.current_complete()) {
    ++w.current;
    w.current_written = 0;
  }
  FQ_CHECK(w.current == w.specs.size(), "safetensors file '", w.path, "': tensor '", w.specs[w.current].name,
           "' is incomplete (", w.current_written, " of ", w.sizes[w.current], " bytes written)");
  FQ_ASSERT(w.written == w.total, "written ", w.written, " of ", w.total);
  int fd = w.fd;
  w.fd = -1;
  FQ_CHECK(::close(fd) == 0, "closing '", w.tmp, "' failed: ", std::strerror(errno));
  commit_file(w.tmp, w.path);
  w.finished = true;
}

const std::string& SafetensorsWriter::path() const { return impl_->path; }
std::uint64_t SafetensorsWriter::total_bytes() const { return impl_->total; }
std::uint64_t SafetensorsWriter::written_bytes() const { return impl_->written; }

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  specs.reserve(tensors.size());
  for (const NamedTensor& t : tensors) {
    FQ_CHECK(t.tensor.defined(), "safetensors file '", path, "': tensor '", t.name, "' is undefined");
    StDtype dtype = StDtype::kF32;
    if (t.fp8_e4m3) {
      FQ_CHECK(t.tensor.scalar_type() == c10::kByte, "safetensors file '", path, "': FP8 tensor '", t.name,
               "' must be passed as uint8 codes");
      dtype = StDtype::kF8E4M3;
    } else {
      dtype = scalar_to_st_dtype(t.tensor.scalar_type(), str("safetensors file '", path, "': tensor '", t.name, "'"));
    }
    specs.push_back({t.name, dtype, t.tensor.sizes().vec()});
  }
  SafetensorsWriter writer(path, std::move(specs), metadata);
  for (const NamedTensor& t : tensors) writer.append(t.name, t.tensor);
  writer.finish();
}

}  // namespace fq::io
