#include "pipelines/stages/gather_stage.h"

#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/store/tensor_archive_reader.h"
#include "lib/store/tensor_archive_writer.h"
#include "pipelines/run/layer_file_status.h"

namespace fq::pipelines {

Json quant_settings_json(const QuantConfig& q) {
  return Json{{"w_bits", q.w_bits},   {"w_asym", q.w_asym},           {"w_mse", q.w_mse},
              {"a_bits", q.a_bits},   {"a_asym", q.a_asym},           {"q_bits", q.q_bits},
              {"q_asym", q.q_asym},   {"k_bits", q.k_bits},           {"k_asym", q.k_asym},
              {"k_groupsize", q.k_groupsize}, {"v_bits", q.v_bits}, {"v_asym", q.v_asym},
              {"v_groupsize", q.v_groupsize}};
}

QuantConfig quant_settings_from_json(const Json& j, const std::string& where) {
  QuantConfig q;
  q.w_bits = json_get<int64_t>(j, "w_bits", where);
  q.w_asym = json_get<bool>(j, "w_asym", where);
  q.w_mse = json_get<bool>(j, "w_mse", where);
  q.a_bits = json_get<int64_t>(j, "a_bits", where);
  q.a_asym = json_get<bool>(j, "a_asym", where);
  q.q_bits = json_get<int64_t>(j, "q_bits", where);
  q.q_asym = json_get<bool>(j, "q_asym", where);
  q.k_bits = json_get<int64_t>(j, "k_bits", where);
  q.k_asym = json_get<bool>(j, "k_asym", where);
  q.k_groupsize = json_get<int64_t>(j, "k_groupsize", where);
  q.v_bits = json_get<int64_t>(j, "v_bits", where);
  q.v_asym = json_get<bool>(j, "v_asym", where);
  q.v_groupsize = json_get<int64_t>(j, "v_groupsize", where);
  return q;
}

namespace {

// "0, 2-5, 9": the missing layers of a 61-layer model stay readable.
std::string layer_ranges(const std::vector<int64_t>& layers) {
  std::string out;
  for (size_t i = 0; i < layers.size();) {
    size_t j = i;
    while (j + 1 < layers.size() && layers[j + 1] == layers[j] + 1) ++j;
    out += (out.empty() ? "" : ", ") + std::to_string(layers[i]) + (j > i ? "-" + std::to_string(layers[j]) : "");
    i = j + 1;
  }
  return out;
}

}  // namespace

Json gather_transforms(const RunLayout& layout, const RunIdentity& identity, const RunConfig& config) {
  std::vector<int64_t> missing;
  Json layers = Json::array();
  double total_seconds = 0;
  int64_t calibrated = 0, skipped = 0;
  for (int64_t i = 0; i < identity.num_layers; ++i) {
    const std::string status = layer_file_status(layout, identity.file_attributes(), i);
    if (status.empty()) {
      missing.push_back(i);
      continue;
    }
    Json entry{{"layer", i}, {"status", status}};
    if (status == "calibrated") {
      ++calibrated;
      const store::TensorArchiveReader archive(layout.layer_params_path(i));
      entry["mse_before"] = archive.double_attribute("/", "mse_before");
      entry["mse_after"] = archive.double_attribute("/", "mse_after");
      entry["seconds"] = archive.double_attribute("/", "seconds");
      entry["steps"] = archive.int_attribute("/", "steps");
      entry["trainable_params"] = archive.int_attribute("/", "trainable_params");
      total_seconds += entry["seconds"].get<double>();
    } else {
      ++skipped;
    }
    layers.push_back(entry);
  }
  FQ_CHECK(missing.empty(), "gather: ", missing.size(), " of ", identity.num_layers,
           " layers are neither calibrated nor skipped (no parameter file in '", layout.layers_dir(), "'): layers ",
           layer_ranges(missing), "; run calibrate again on this directory to finish them");
  store::TensorArchiveWriter artifact(layout.transforms_path());
  artifact.set_attribute("/", "format", kArtifactFormat);
  artifact.set_attribute("/", "format_version", kArtifactFormatVersion);
  const Json identity_json = identity.to_json();
  for (const auto& [key, value] : identity_json.items()) {
    if (value.is_string()) artifact.set_attribute("/", key, value.get<std::string>());
    if (value.is_number_integer()) artifact.set_attribute("/", key, value.get<int64_t>());
  }
  artifact.set_json_attribute("/", "quant", quant_settings_json(config.quant));
  artifact.set_attribute("/", "config_yaml", run_config_yaml(config));
  char group[32];
  for (int64_t i = 0; i < identity.num_layers; ++i) {
    std::snprintf(group, sizeof group, "layer_%03lld", static_cast<long long>(i));
    artifact.copy_from(layout.layer_params_path(i), "/", group);
  }
  artifact.commit();

  Json report{{"model_fingerprint", identity.model_fingerprint},
              {"config_hash", identity.config_hash},
              {"layers", layers},
              {"totals", {{"calibrated", calibrated}, {"skipped", skipped}, {"calibration_seconds", total_seconds}}}};
  write_json_file_atomic(layout.report_path(), report);
  update_manifest(layout.manifest_path(), Json{{"layers", layers}, {"artifact", "transforms.h5"}, {"complete", true}});
  log::info("gather", "transforms.h5 written",
            {{"layers", identity.num_layers}, {"calibrated", calibrated}, {"skipped", skipped},
             {"path", layout.transforms_path()}});
  return report;
}

}  // namespace fq::pipelines
