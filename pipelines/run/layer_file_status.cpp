#include "pipelines/run/layer_file_status.h"

#include <filesystem>

#include "lib/core/error.h"
#include "lib/store/tensor_archive_reader.h"

namespace fq::pipelines {

std::string layer_file_status(const RunLayout& layout, const store::Attributes& run_attributes, int64_t layer) {
  const std::string path = layout.layer_params_path(layer);
  if (!std::filesystem::exists(path)) return "";
  store::TensorArchiveReader archive(path);
  for (const auto& [key, value] : run_attributes) {
    FQ_CHECK(archive.string_attribute("/", key) == value.text(), "'", path, "' belongs to another run: its ", key,
             " is '", archive.string_attribute("/", key), "', this run's '", value.text(), "'");
  }
  FQ_CHECK(archive.int_attribute("/", "layer") == layer, "'", path, "' holds layer ",
           archive.int_attribute("/", "layer"), ", not ", layer);
  const std::string status = archive.string_attribute("/", "status");
  FQ_CHECK(status == "calibrated" || status == "skipped", "'", path, "' has an unknown status '", status, "'");
  return status;
}

}  // namespace fq::pipelines
