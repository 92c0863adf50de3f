// Reads a tensor archive (tensor_archive_writer.h), or any HDF5 file of plain numeric datasets (h5py
// output included): tensors by name, the groups and datasets of a group, attributes. Every error names
// the file and the dataset, group or attribute. Not thread-safe.
//
//   TensorArchiveReader archive(run_dir + "/transforms.h5");
//   for (const std::string& layer : archive.groups("/")) { ... }
//   at::Tensor left = archive.read("layer_003/attn_in/left");
//   std::int64_t rank = archive.int_attribute("layer_003/attn_in", "rank");
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include "lib/store/attribute_value.h"
#include "lib/store/h5_handle.h"

namespace fq::store {

class TensorArchiveReader {
 public:
  explicit TensorArchiveReader(std::string path);

  // The dataset `name` as a CPU tensor in its stored dtype (scalar datasets as 0-d tensors).
  at::Tensor read(const std::string& name) const;
  bool has_dataset(const std::string& name) const;
  bool has_group(const std::string& name) const;

  // Direct children of `group` ("/" for the root), sorted by name.
  std::vector<std::string> groups(const std::string& group = "/") const;
  std::vector<std::string> datasets(const std::string& group = "/") const;
  // Full names of every dataset in the file ("layer_003/attn_in/left"), sorted.
  std::vector<std::string> all_datasets() const;

  // Attributes of `object` ("/" for the file, a group or a dataset).
  Attributes attributes(const std::string& object = "/") const;
  std::string string_attribute(const std::string& object, const std::string& key) const;
  std::int64_t int_attribute(const std::string& object, const std::string& key) const;
  double double_attribute(const std::string& object, const std::string& key) const;
  nlohmann::json json_attribute(const std::string& object, const std::string& key) const;

  const std::string& path() const { return path_; }

 private:
  AttributeValue attribute(const std::string& object, const std::string& key, AttributeValue::Kind kind) const;
  std::string where() const;

  std::string path_;
  H5File file_;
};

}  // namespace fq::store
