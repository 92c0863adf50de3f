// Writes a set of named tensors in a group hierarchy ("layer_003/attn_in/left") with attributes on the
// file, on groups and on datasets, to one HDF5 file, crash-safe: everything goes to a temporary file that
// commit() renames to `path`; a writer destroyed without commit() deletes it. Used for the learned
// parameters of each layer and for the gathered transforms.h5. Not thread-safe.
//
//   TensorArchiveWriter archive(dir + "/layer_003.h5");
//   archive.put("attn_in/left", left);                     // groups are created as needed
//   archive.set_attribute("attn_in", "rank", 64);
//   archive.set_json_attribute("/", "config", config_json);
//   archive.commit();
#pragma once

#include <string>

#include <ATen/core/Tensor.h>
#include <nlohmann/json_fwd.hpp>

#include "lib/store/attribute_value.h"
#include "lib/store/h5_file.h"

namespace fq::store {

class TensorArchiveWriter {
 public:
  explicit TensorArchiveWriter(std::string path);
  TensorArchiveWriter(TensorArchiveWriter&&) noexcept = default;
  TensorArchiveWriter& operator=(TensorArchiveWriter&&) = delete;
  TensorArchiveWriter(const TensorArchiveWriter&) = delete;
  TensorArchiveWriter& operator=(const TensorArchiveWriter&) = delete;

  // Stores `tensor` (any device; float32, float64, bfloat16, float16, int64, int32, uint8 or bool; 0-d
  // tensors become scalar datasets) as the new dataset `name`, creating missing groups. The bits are stored
  // as they are, with a `dtype` attribute.
  void put(const std::string& name, const at::Tensor& tensor);

  // Sets (or replaces) attribute `key` of `object`: "/" (or "") for the file, a dataset, or a group, which
  // is created when missing.
  void set_attribute(const std::string& object, const std::string& key, const AttributeValue& value);
  // The same with JSON text (read back with TensorArchiveReader::json_attribute).
  void set_json_attribute(const std::string& object, const std::string& key, const nlohmann::json& value);

  // Copies `source_object` of the archive file `source_path` (a dataset, or a group with everything under
  // it and all attributes; "/" copies the whole file) to the new name `target_object` of this archive:
  // how per-layer archives are gathered into one.
  void copy_from(const std::string& source_path, const std::string& source_object, const std::string& target_object);

  // Closes, fsyncs and renames the file to path().
  void commit();

  const std::string& path() const { return file_.path(); }

 private:
  // Opens `object` for attributes, creating it as a group when missing.
  H5Object open_or_create_group(const std::string& object);
  // Throws unless `name` is free; the file name and `what` go into the message.
  void check_free(const std::string& name, const char* what);
  std::string where() const;

  PendingH5File file_;
};

}  // namespace fq::store
