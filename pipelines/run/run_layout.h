// Where a run keeps its files. Every file is complete or absent (written to a temporary name, then
// renamed), so "what is complete" is "what exists and verifies"; manifest.json pins the run's identity.
//
//   DIR/config.yaml                 effective config
//   DIR/manifest.json               identity (model fingerprint, config hash), plan, per-layer status at gather
//   DIR/windows.h5                  calibration token windows [nsamples, seqlen]
//   DIR/activations/layer_NNN.h5    inputs of layer NNN (layer N = the last layer's output)
//   DIR/layers/layer_NNN.h5         learned parameters of layer NNN (or a "skipped" marker)
//   DIR/transforms.h5               gathered artifact
//   DIR/report.json                 per-layer MSE before/after and times
//   DIR/log.jsonl                   structured log (all ranks)
#pragma once

#include <cstdint>
#include <string>

namespace fq::pipelines {

class RunLayout {
 public:
  explicit RunLayout(std::string dir);
  const std::string& dir() const { return dir_; }
  std::string config_path() const { return dir_ + "/config.yaml"; }
  std::string manifest_path() const { return dir_ + "/manifest.json"; }
  std::string windows_path() const { return dir_ + "/windows.h5"; }
  std::string activations_dir() const { return dir_ + "/activations"; }
  std::string layers_dir() const { return dir_ + "/layers"; }
  std::string activations_path(int64_t layer) const;
  std::string layer_params_path(int64_t layer) const;
  std::string layer_state_path(int64_t layer) const;  // mid-layer training state after a stop
  std::string transforms_path() const { return dir_ + "/transforms.h5"; }
  std::string report_path() const { return dir_ + "/report.json"; }
  std::string log_path() const { return dir_ + "/log.jsonl"; }
  // Creates the directories (idempotent) and removes temporary files left by killed processes.
  void prepare() const;

 private:
  std::string dir_;
};

}  // namespace fq::pipelines
