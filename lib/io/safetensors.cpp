// Reading safetensors files: header validation as the reference implementation applies it, then
// single-tensor copies out of a read-only mapping whose pages are released again after each copy.
#include "lib/io/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <tuple>
#include <unordered_map>

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/core/error.h"
#include "lib/core/json.h"

namespace fq::io {
namespace {

// The reference implementation rejects headers above 100 MB (safetensors MAX_HEADER_SIZE).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
// Tensors are copied out of the mapping in chunks of this size, each chunk's pages released right after,
// so reading a 2 GB embedding never holds more than one chunk of file pages besides the result.
constexpr std::uint64_t kCopyChunkBytes = 16ull << 20;
// Tensors of at least this size get an anonymous mapping of their own, unmapped when the tensor dies.
// The default CPU allocator (glibc) keeps freed blocks below its dynamic mmap threshold (up to 32 MiB:
// a DeepSeek expert weight is 29 MiB) in the heap, so loading layer after layer would pile up resident,
// freed memory; an own mapping always goes back to the system.
constexpr std::uint64_t kOwnMappingBytes = 1ull << 20;

struct DtypeEntry {
  StDtype dtype;
  const char* name;
  std::size_t bytes;
  c10::ScalarType scalar;
};

constexpr DtypeEntry kDtypes[] = {
    {StDtype::kF64, "F64", 8, c10::kDouble},      {StDtype::kF32, "F32", 4, c10::kFloat},
    {StDtype::kF16, "F16", 2, c10::kHalf},        {StDtype::kBF16, "BF16", 2, c10::kBFloat16},
    {StDtype::kI64, "I64", 8, c10::kLong},        {StDtype::kI32, "I32", 4, c10::kInt},
    {StDtype::kI16, "I16", 2, c10::kShort},       {StDtype::kI8, "I8", 1, c10::kChar},
    {StDtype::kU8, "U8", 1, c10::kByte},          {StDtype::kBool, "BOOL", 1, c10::kBool},
    {StDtype::kF8E4M3, "F8_E4M3", 1, c10::kByte}, {StDtype::kF8E5M2, "F8_E5M2", 1, c10::kByte},
};

const DtypeEntry& entry(StDtype dtype) {
  for (const auto& e : kDtypes) {
    if (e.dtype == dtype) return e;
  }
  FQ_ASSERT(false, "unhandled safetensors dtype ", static_cast<int>(dtype));
  return kDtypes[0];
}

// A file descriptor and a read-only mapping of the whole file, released together.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    FQ_CHECK(fd_ >= 0, "cannot open safetensors file '", path, "': ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      int err = errno;
      ::close(fd_);
      throw Error(str("cannot stat safetensors file '", path, "': ", std::strerror(err)));
    }
    size_ = static_cast<std::uint64_t>(st.st_size);
    if (size_ == 0) return;  // nothing to map; the header check reports the empty file
    void* addr = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (addr == MAP_FAILED) {
      int err = errno;
      ::close(fd_);
      throw Error(str("cannot map safetensors file '", path, "': ", std::strerror(err)));
    }
    data_ = static_cast<const unsigned char*>(addr);
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  std::uint64_t size() const { return size_; }

  // Drops this process's pages of [begin, end): the kernel keeps them in the page cache, but they no
  // longer count towards the resident set, so walking a 700 GB checkpoint keeps RSS flat.
  void release(std::uint64_t begin, std::uint64_t end) const {
    static const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    std::uint64_t lo = begin / page * page;
    std::uint64_t hi = std::min(size_, (end + page - 1) / page * page);
    if (hi > lo) ::madvise(const_cast<unsigned char*>(data_) + lo, hi - lo, MADV_DONTNEED);
  }

 private:
  int fd_ = -1;
  const unsigned char* data_ = nullptr;
  std::uint64_t size_ = 0;
};

// An uninitialized CPU tensor; large ones in their own anonymous mapping (see kOwnMappingBytes).
at::Tensor allocate_cpu(const std::vector<int64_t>& shape, c10::ScalarType type, std::uint64_t bytes,
                        const std::string& what) {
  const at::TensorOptions options = at::TensorOptions().dtype(type);
  if (bytes < kOwnMappingBytes) return at::empty(shape, options);
  void* data = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  FQ_CHECK(data != MAP_FAILED, "cannot allocate ", bytes, " bytes for ", what, ": ", std::strerror(errno));
  return at::from_blob(
      data, shape, [bytes](void* p) { ::munmap(p, bytes); }, options);
}

std::uint64_t read_u64_le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::uint64_t offset_field(const Json& offsets, int i, const std::string& path, const std::string& name) {
  const Json& v = offsets[static_cast<std::size_t>(i)];
  FQ_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), "safetensors file '", path,
           "': tensor '", name, "' has a data offset that is not a non-negative integer: ", v.dump());
  return v.get<std::uint64_t>();
}

TensorInfo parse_tensor_entry(const std::string& name, const Json& value, const std::string& path) {
  FQ_CHECK(value.is_object(), "safetensors file '", path, "': entry for tensor '", name, "' is not an object");
  TensorInfo info;
  info.name = name;
  auto dtype = value.find("dtype");
  FQ_CHECK(dtype != value.end() && dtype->is_string(), "safetensors file '", path, "': tensor '", name,
           "' has no string 'dtype'");
  info.dtype = parse_st_dtype(dtype->get<std::string>(), str("safetensors file '", path, "': tensor '", name, "'"));

  auto shape = value.find("shape");
  FQ_CHECK(shape != value.end() && shape->is_array(), "safetensors file '", path, "': tensor '", name,
           "' has no 'shape' array");
  std::uint64_t numel = 1;
  for (const Json& d : *shape) {
    FQ_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), "safetensors file '", path,
             "': tensor '", name, "' has a shape entry that is not a non-negative integer: ", shape->dump());
    std::uint64_t dim = d.get<std::uint64_t>();
    FQ_CHECK(dim <= static_cast<std::uint64_t>(INT64_MAX) && !__builtin_mul_overflow(numel, dim, &numel),
             "safetensors file '", path, "': tensor '", name, "' has an impossibly large shape ", shape->dump());
    info.shape.push_back(static_cast<int64_t>(dim));
  }

  auto offsets = value.find("data_offsets");
  FQ_CHECK(offsets != value.end() && offsets->is_array() && offsets->size() == 2, "safetensors file '", path,
           "': tensor '", name, "' has no 'data_offsets' pair");
  info.begin = offset_field(*offsets, 0, path, name);
  info.end = offset_field(*offsets, 1, path, name);
  FQ_CHECK(info.end >= info.begin, "safetensors file '", path, "': tensor '", name, "' has data_offsets [", info.begin,
           ", ", info.end, "] ending before they begin");
  std::uint64_t bytes = 0;
  FQ_CHECK(!__builtin_mul_overflow(numel, static_cast<std::uint64_t>(st_dtype_bytes(info.dtype)), &bytes),
           "safetensors file '", path, "': tensor '", name, "' has an impossibly large shape ", shape->dump());
  FQ_CHECK(info.end - info.begin == bytes, "safetensors file '", path, "': tensor '", name, "' spans ",
           info.end - info.begin, " bytes but its shape ", shape->dump(), " of ", st_dtype_name(info.dtype), " needs ",
           bytes);
  return info;
}

}  // namespace

const char* st_dtype_name(StDtype dtype) { return entry(dtype).name; }
std::size_t st_dtype_bytes(StDtype dtype) { return entry(dtype).bytes; }
c10::ScalarType st_dtype_to_scalar(StDtype dtype) { return entry(dtype).scalar; }

StDtype scalar_to_st_dtype(c10::ScalarType type, const std::string& where) {
  for (const auto& e : kDtypes) {
    if (e.scalar == type) return e.dtype;  // the first match: kByte is U8, not an FP8 type
  }
  throw Error(str(where, ": LibTorch type ", c10::toString(type), " has no safetensors dtype"));
}

StDtype parse_st_dtype(const std::string& name, const std::string& where) {
  for (const auto& e : kDtypes) {
    if (name == e.name) return e.dtype;
  }
  throw Error(str(where, ": unknown safetensors dtype '", name, "'"));
}

struct SafetensorsFile::Impl {
  explicit Impl(const std::string& p) : path(p), file(p) {}

  std::string path;
  MappedFile file;
  std::uint64_t data_start = 0;     // 8 + header length
  std::vector<TensorInfo> tensors;  // in file (offset) order
  std::unordered_map<std::string, std::size_t> by_name;
  std::map<std::string, std::string> metadata;

  void parse_header();
};

void SafetensorsFile::Impl::parse_header() {
  const std::uint64_t size = file.size();
  FQ_CHECK(size >= 8, "safetensors file '", path, "' is truncated: ", size,
           " bytes, shorter than the 8-byte header length");
  const std::uint64_t header_bytes = read_u64_le(file.data());
  FQ_CHECK(header_bytes <= kMaxHeaderBytes, "safetensors file '", path, "': header of ", header_bytes,
           " bytes exceeds the ", kMaxHeaderBytes, "-byte limit (corrupt or not a safetensors file)");
  FQ_CHECK(header_bytes <= size - 8, "safetensors file '", path, "' is truncated: header claims ", header_bytes,
           " bytes but only ", size - 8, " follow");
  data_start = 8 + header_bytes;
  const char* text = reinterpret_cast<const char*>(file.data() + 8);
  FQ_CHECK(header_bytes > 0 && text[0] == '{', "safetensors file '", path, "': header does not start with '{'");

  // nlohmann keeps the last of duplicate keys silently; the callback sees every top-level key (depth 1).
  std::set<std::string> seen;
  std::string duplicate;
  Json header;
  try {
    header = Json::parse(text, text + header_bytes, [&](int depth, Json::parse_event_t event, Json& parsed) {
      if (event == Json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second &&
          duplicate.empty()) {
        duplicate = parsed.get<std::string>();
      }
      return true;
    });
  } catch (const Json::exception& e) {
    throw Error(str("safetensors file '", path, "': header is not valid JSON: ", e.what()));
  }
  file.release(0, data_start);
  FQ_CHECK(duplicate.empty(), "safetensors file '", path, "': tensor '", duplicate, "' appears twice in the header");
  FQ_CHECK(header.is_object(), "safetensors file '", path, "': header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_null()) continue;
      FQ_CHECK(it->is_object(), "safetensors file '", path, "': __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        FQ_CHECK(m->is_string(), "safetensors file '", path, "': __metadata__ value '", m.key(), "' is not a string");
        metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    tensors.push_back(parse_tensor_entry(it.key(), *it, path));
  }

  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    FQ_CHECK(t.begin <= expected, "safetensors file '", path, "': gap in the data buffer before tensor '", t.name,
             "' (it begins at ", t.begin, ", the previous tensor ends at ", expected, ")");
    FQ_CHECK(t.begin >= expected, "safetensors file '", path, "': tensor '", t.name, "' overlaps tensor '",
             tensors[i - 1].name, "' (it begins at ", t.begin, ", the previous tensor ends at ", expected, ")");
    expected = t.end;
    by_name.emplace(t.name, i);
  }
  const std::uint64_t buffer = size - data_start;
  FQ_CHECK(expected == buffer, "safetensors file '", path, "': ",
           expected > buffer ? "file is truncated: " : "data buffer has trailing bytes: ", "tensors end at byte ",
           expected, " of the data buffer but it holds ", buffer,
           tensors.empty() ? "" : str(" (last tensor '", tensors.back().name, "')"));
}

SafetensorsFile::SafetensorsFile(const std::string& path) : impl_(std::make_unique<Impl>(path)) {
  impl_->parse_header();
}
SafetensorsFile::~SafetensorsFile() = default;
SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;

const std::string& SafetensorsFile::path() const { return impl_->path; }

bool SafetensorsFile::contains(const std::string& name) const { return impl_->by_name.count(name) != 0; }

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = impl_->by_name.find(name);
  FQ_CHECK(it != impl_->by_name.end(), "safetensors file '", impl_->path, "' has no tensor '", name, "'");
  return impl_->tensors[it->second];
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->tensors.size());
  for (const auto& t : impl_->tensors) out.push_back(t.name);
  return out;
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const { return impl_->metadata; }

at::Tensor SafetensorsFile::read(const std::string& name) const {
  const TensorInfo& t = info(name);
  at::Tensor out = allocate_cpu(t.shape, st_dtype_to_scalar(t.dtype), t.end - t.begin,
                                str("tensor '", name, "' of '", impl_->path, "'"));
  auto* dst = static_cast<unsigned char*>(out.data_ptr());
  const std::uint64_t first = impl_->data_start + t.begin;
  const std::uint64_t last = impl_->data_start + t.end;
  for (std::uint64_t pos = first; pos < last; pos += kCopyChunkBytes) {
    const std::uint64_t n = std::min(kCopyChunkBytes, last - pos);
    std::memcpy(dst + (pos - first), impl_->file.data() + pos, n);
    impl_->file.release(pos, pos + n);
  }
  return out;
}

std::uint64_t SafetensorsFile::data_size() const { return impl_->file.size() - impl_->data_start; }

std::string SafetensorsFile::read_data(std::uint64_t begin, std::uint64_t count) const {
  FQ_CHECK(begin <= data_size() && count <= data_size() - begin, "safetensors file '", impl_->path, "': bytes [", begin,
           ", ", begin + count, ") lie outside its ", data_size(), "-byte data buffer");
  const std::uint64_t first = impl_->data_start + begin;
  std::string out(reinterpret_cast<const char*>(impl_->file.data()) + first, count);
  impl_->file.release(first, first + count);
  return out;
}

}  // namespace fq::io
