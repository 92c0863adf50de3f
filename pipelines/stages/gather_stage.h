// Stage 3, gather: checks that every layer is calibrated or deliberately skipped, then collects the
// per-layer parameter files into one artifact, transforms.h5 (see docs/ARTIFACT.md), writes report.json
// and records the per-layer status in the manifest. Also `flatquant gather` after the fact.
#pragma once

#include <string>

#include "lib/core/json.h"
#include "pipelines/config/run_config.h"
#include "pipelines/run/run_layout.h"
#include "pipelines/run/run_manifest.h"

namespace fq::pipelines {

constexpr const char* kArtifactFormat = "flatquant-transforms";
constexpr int kArtifactFormatVersion = 1;

// Returns the report (also written to report.json). Throws fq::Error listing missing layers.
Json gather_transforms(const RunLayout& layout, const RunIdentity& identity, const RunConfig& config);

// The quantizer settings stored in the artifact (and read back by evaluation).
Json quant_settings_json(const QuantConfig& quant);
QuantConfig quant_settings_from_json(const Json& json, const std::string& where);

}  // namespace fq::pipelines
