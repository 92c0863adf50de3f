#include "lib/io/checkpoint.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include <ATen/ATen.h>

#include "lib/core/atomic_file.h"
#include "lib/core/error.h"
#include "lib/core/fingerprint.h"
#include "lib/core/json.h"
#include "lib/io/fp8_e4m3.h"

namespace fq::io {
namespace {

constexpr const char* kIndexFile = "model.safetensors.index.json";
constexpr const char* kSingleFile = "model.safetensors";
// DeepSeek V3's block size, for FP8 checkpoints whose config lost its quantization_config.
constexpr int64_t kDefaultFp8Block = 128;
// Bytes sampled from each end of every shard's data for the fingerprint.
constexpr std::uint64_t kFingerprintSampleBytes = 4096;

std::map<std::string, std::string> parse_index(const std::string& index_path, const std::string& dir) {
  Json index = read_json_file(index_path);
  FQ_CHECK(index.is_object() && index.contains("weight_map") && index["weight_map"].is_object(), "checkpoint index '",
           index_path, "' has no 'weight_map' object");
  std::map<std::string, std::string> weight_map;
  for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
    FQ_CHECK(it->is_string(), "checkpoint index '", index_path, "': weight_map entry for tensor '", it.key(),
             "' is not a file name");
    const std::string shard = it->get<std::string>();
    FQ_CHECK(!shard.empty() && shard.find('/') == std::string::npos && shard != "." && shard != "..",
             "checkpoint index '", index_path, "': tensor '", it.key(), "' names shard '", shard,
             "', which is not a file name inside the checkpoint directory");
    weight_map.emplace(it.key(), shard);
  }
  std::set<std::string> checked;
  for (const auto& [name, shard] : weight_map) {
    if (checked.insert(shard).second) {
      FQ_CHECK(std::filesystem::is_regular_file(dir + "/" + shard), "checkpoint index '", index_path, "' names shard '",
               shard, "' (tensor '", name, "' among others) but the file is missing from '", dir, "'");
    }
  }
  return weight_map;
}

}  // namespace

struct Checkpoint::Impl {
  std::string dir;
  ModelConfig config;
  std::string config_text;
  std::string index_path;                         // empty for a single-file checkpoint
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  mutable std::mutex mutex;
  mutable std::map<std::string, std::unique_ptr<SafetensorsFile>> shards;  // opened on first use

  const SafetensorsFile& shard_of(const std::string& name) const {
    auto it = weight_map.find(name);
    FQ_CHECK(it != weight_map.end(), "checkpoint '", dir, "' has no tensor '", name, "'");
    const SafetensorsFile& file = open(it->second);
    FQ_CHECK(file.contains(name), "checkpoint index '", index_path, "' places tensor '", name, "' in shard '",
             it->second, "' but that file does not hold it");
    return file;
  }

  const SafetensorsFile& open(const std::string& shard) const {
    std::lock_guard<std::mutex> lock(mutex);
    auto& slot = shards[shard];
    if (!slot) slot = std::make_unique<SafetensorsFile>(dir + "/" + shard);
    return *slot;
  }
};

Checkpoint::Checkpoint(const std::string& dir) : impl_(std::make_unique<Impl>()) {
  Impl& c = *impl_;
  c.dir = dir;
  const std::string config_path = dir + "/config.json";
  FQ_CHECK(std::filesystem::is_regular_file(config_path), "checkpoint '", dir, "' has no config.json");
  c.config_text = read_file(config_path);
  c.config = parse_model_config_text(c.config_text, config_path);

  const std::string index_path = dir + "/" + kIndexFile;
  if (std::filesystem::is_regular_file(index_path)) {
    c.index_path = index_path;
    c.weight_map = parse_index(index_path, dir);
    return;
  }
  FQ_CHECK(std::filesystem::is_regular_file(dir + "/" + kSingleFile), "checkpoint '", dir, "' has neither ", kIndexFile,
           " nor ", kSingleFile);
  c.index_path = dir + "/" + kSingleFile;
  for (const std::string& name : c.open(kSingleFile).names()) c.weight_map.emplace(name, kSingleFile);
}

Checkpoint::~Checkpoint() = default;
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;

const std::string& Checkpoint::dir() const { return impl_->dir; }
const ModelConfig& Checkpoint::config() const { return impl_->config; }
bool Checkpoint::contains(const std::string& name) const { return impl_->weight_map.count(name) != 0; }

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(impl_->weight_map.size());
  for (const auto& entry : impl_->weight_map) out.push_back(entry.first);
  return out;
}

const TensorInfo& Checkpoint::info(const std::string& name) const { return impl_->shard_of(name).info(name); }

at::Tensor Checkpoint::load_raw(const std::string& name) const { return impl_->shard_of(name).read(name); }

at::Tensor Checkpoint::load(const std::string& name, c10::ScalarType dtype, c10::Device device) const {
  const SafetensorsFile& file = impl_->shard_of(name);
  const TensorInfo& info = file.info(name);
  at::Tensor t = file.read(name);
  const std::string what = str("checkpoint '", impl_->dir, "': tensor '", name, "'");
  if (info.dtype == StDtype::kF8E5M2) {
    throw Error(str(what, " is F8_E5M2, which flatquant does not dequantize"));
  }
  if (info.dtype == StDtype::kF8E4M3) {
    const std::string scale_name = name + "_scale_inv";
    if (contains(scale_name)) {
      const ModelConfig& cfg = impl_->config;
      const int64_t rows = cfg.fp8_block_rows > 0 ? cfg.fp8_block_rows : kDefaultFp8Block;
      const int64_t cols = cfg.fp8_block_cols > 0 ? cfg.fp8_block_cols : kDefaultFp8Block;
      t = fp8_block_dequantize(t, load_raw(scale_name), rows, cols, what);
    } else {
      t = fp8_e4m3_decode(t);
    }
  }
  // Convert on the side where the tensor is smaller, so a BF16 weight travels to the GPU as BF16.
  if (device.is_cpu() || static_cast<int64_t>(c10::elementSize(dtype)) <= t.element_size()) {
    return t.to(dtype).to(device);
  }
  return t.to(device).to(dtype);
}

std::string Checkpoint::fingerprint() const {
  Fingerprint fp;
  fp.add(impl_->config_text);
  for (const auto& entry : impl_->weight_map) {
    const TensorInfo& t = info(entry.first);
    fp.add(t.name).add(st_dtype_name(t.dtype)).add(static_cast<std::uint64_t>(t.shape.size()));
    for (int64_t d : t.shape) fp.add(static_cast<std::uint64_t>(d));
    fp.add(t.end - t.begin);
  }
  std::set<std::string> shards;
  for (const auto& entry : impl_->weight_map) shards.insert(entry.second);
  for (const std::string& shard : shards) {
    const SafetensorsFile& file = impl_->open(shard);
    const std::uint64_t n = std::min(kFingerprintSampleBytes, file.data_size());
    fp.add(file.read_data(0, n)).add(file.read_data(file.data_size() - n, n));
  }
  return fp.hex();
}

}  // namespace fq::io
