#include "pipelines/run/run_manifest.h"

#include <filesystem>

#include "lib/core/error.h"

namespace fq::pipelines {

Json RunIdentity::to_json() const {
  return Json{{"model_fingerprint", model_fingerprint},
              {"config_hash", config_hash},
              {"num_layers", num_layers},
              {"model_type", model_type}};
}

RunIdentity RunIdentity::from_json(const Json& json, const std::string& where) {
  return {json_get<std::string>(json, "model_fingerprint", where), json_get<std::string>(json, "config_hash", where),
          json_get<int64_t>(json, "num_layers", where), json_get<std::string>(json, "model_type", where)};
}

Json open_or_create_manifest(const std::string& manifest_path, const RunIdentity& identity) {
  if (!std::filesystem::exists(manifest_path)) {
    Json m{{"format_version", kManifestFormatVersion}, {"identity", identity.to_json()}};
    write_json_file_atomic(manifest_path, m);
    return m;
  }
  Json m = read_json_file(manifest_path);
  FQ_CHECK(m.is_object() && m.contains("identity") && m["identity"].is_object(), "'", manifest_path,
           "' is not a flatquant manifest (no identity)");
  FQ_CHECK(json_get_or<int>(m, "format_version", 0, manifest_path) == kManifestFormatVersion, "'", manifest_path,
           "': manifest format version ", json_get_or<int>(m, "format_version", 0, manifest_path),
           " is not this build's ", kManifestFormatVersion);
  const Json& id = m["identity"];
  const Json want = identity.to_json();
  for (const auto& [key, value] : want.items()) {
    FQ_CHECK(id.contains(key) && id[key] == value, "run directory '",
             std::filesystem::path(manifest_path).parent_path().string(), "' belongs to another run: manifest field '",
             key, "' is ", id.contains(key) ? id[key].dump() : "missing", " but this run has ", value.dump(),
             key == "config_hash" ? " (the calibration settings changed; use a new --out directory)"
                                  : " (a different model; use a new --out directory)");
  }
  return m;
}

void update_manifest(const std::string& manifest_path, const Json& fields) {
  Json m = read_json_file(manifest_path);
  for (const auto& [key, value] : fields.items()) m[key] = value;
  write_json_file_atomic(manifest_path, m);
}

}  // namespace fq::pipelines
