// The identity of a run directory: which model (checkpoint fingerprint) and which calibration settings
// (config hash) its files belong to. Created on the first run; every later run on the directory must
// match it, and every HDF5 file of the run carries the same two attributes, so a foreign or stale file is
// refused instead of silently reused.
#pragma once

#include <cstdint>
#include <string>

#include "lib/core/json.h"
#include "lib/store/attribute_value.h"

namespace fq::pipelines {

struct RunIdentity {
  std::string model_fingerprint;
  std::string config_hash;
  int64_t num_layers = 0;
  std::string model_type;
  Json to_json() const;
  // The identity stored in a manifest; `where` (the manifest path) names it in errors.
  static RunIdentity from_json(const Json& json, const std::string& where);
  // Attributes every HDF5 file of the run carries; readers require them (foreign files are refused).
  store::Attributes file_attributes() const {
    return {{"model_fingerprint", model_fingerprint}, {"config_hash", config_hash}};
  }
};

constexpr int kManifestFormatVersion = 1;

// Creates DIR/manifest.json with `identity` when absent; otherwise checks it (model, config, layers) and
// throws fq::Error naming the field that differs and how to proceed. Returns the manifest content.
Json open_or_create_manifest(const std::string& manifest_path, const RunIdentity& identity);

// Rewrites the manifest atomically, merging `fields` into it (plan, per-layer status, artifact).
void update_manifest(const std::string& manifest_path, const Json& fields);

}  // namespace fq::pipelines
