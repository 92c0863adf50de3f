// `flatquant gather --run DIR` after the fact: the per-layer files of a run directory become transforms.h5
// when every layer is calibrated or skipped; otherwise the error lists the missing layers. Foreign layer
// files, an edited config.yaml and a run held by a live job are refused.
#include "pipelines/gather_run.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "cluster/run_lock.h"
#include "lib/core/atomic_file.h"
#include "lib/store/tensor_archive_reader.h"
#include "lib/store/tensor_archive_writer.h"
#include "pipelines/config/run_config.h"
#include "pipelines/run/run_layout.h"
#include "pipelines/run/run_manifest.h"
#include "pipelines/stages/gather_stage.h"
#include "tests/support/expect_error.h"
#include "tests/support/shared_dir.h"

namespace fq::pipelines {
namespace {

constexpr int64_t kLayers = 6;

struct RunDir {
  RunLayout layout;
  RunIdentity identity;
};

// A run directory as `flatquant calibrate` leaves it: config.yaml, manifest.json, no layer files yet.
RunDir make_run(const std::string& name) {
  RunConfig config = load_run_config("", {"flatquant.epochs=2", "model=/models/tiny"});
  RunDir run{RunLayout(test::scratch_dir("gather_run_" + name) + "/run"),
          {"fingerprint-of-the-model", calibration_hash(config), kLayers, "llama"}};
  run.layout.prepare();
  write_file_atomic(run.layout.config_path(), run_config_yaml(config));
  open_or_create_manifest(run.layout.manifest_path(), run.identity);
  return run;
}

// A layer file as the calibrate stage writes it (parameter values seeded by the layer index).
void write_layer(const RunDir& run, int64_t layer, const std::string& status, const store::Attributes& attributes) {
  store::TensorArchiveWriter archive(run.layout.layer_params_path(layer));
  for (const auto& [key, value] : attributes) archive.set_attribute("/", key, value);
  archive.set_attribute("/", "layer", layer);
  archive.set_attribute("/", "status", status);
  if (status == "calibrated") {
    at::manual_seed(layer + 1);
    archive.put("attn_in/left", at::randn({4, 4}));
    archive.put("attn_in/clip", at::randn({8}));
    archive.set_attribute("/", "mse_before", 2.0 + layer);
    archive.set_attribute("/", "mse_after", 0.5);
    archive.set_attribute("/", "seconds", 1.5);
    archive.set_attribute("/", "steps", int64_t{8});
    archive.set_attribute("/", "trainable_params", int64_t{24});
  }
  archive.commit();
}

void write_layers(const RunDir& run, const std::vector<int64_t>& layers) {
  for (int64_t layer : layers) {
    write_layer(run, layer, layer == kLayers - 1 ? "skipped" : "calibrated", run.identity.file_attributes());
  }
}

TEST(GatherRun, CollectsEveryLayerIntoTheArtifact) {
  const RunDir run = make_run("complete");
  write_layers(run, {0, 1, 2, 3, 4, 5});
  const Json report = gather_run_directory(run.layout.dir());
  EXPECT_EQ(report["totals"]["calibrated"], 5);
  EXPECT_EQ(report["totals"]["skipped"], 1);
  EXPECT_DOUBLE_EQ(report["totals"]["calibration_seconds"].get<double>(), 5 * 1.5);

  const store::TensorArchiveReader artifact(run.layout.transforms_path());
  EXPECT_EQ(artifact.string_attribute("/", "format"), kArtifactFormat);
  EXPECT_EQ(artifact.int_attribute("/", "format_version"), kArtifactFormatVersion);
  EXPECT_EQ(artifact.string_attribute("/", "config_hash"), run.identity.config_hash);
  EXPECT_EQ(artifact.groups("/").size(), static_cast<size_t>(kLayers));
  for (int64_t layer = 0; layer < kLayers - 1; ++layer) {
    const store::TensorArchiveReader source(run.layout.layer_params_path(layer));
    const std::string group = "layer_00" + std::to_string(layer);
    EXPECT_TRUE(at::equal(artifact.read(group + "/attn_in/left"), source.read("attn_in/left"))) << group;
    EXPECT_EQ(artifact.string_attribute(group, "status"), "calibrated");
  }
  EXPECT_EQ(artifact.string_attribute("layer_005", "status"), "skipped");
  const Json manifest = read_json_file(run.layout.manifest_path());
  EXPECT_TRUE(manifest["complete"].get<bool>());
  EXPECT_EQ(manifest["layers"].size(), static_cast<size_t>(kLayers));
  EXPECT_FALSE(std::filesystem::exists(run.layout.dir() + "/" + cluster::RunLock::kFileName)) << "lock released";
}

TEST(GatherRun, MissingLayersAreListedAndNoArtifactIsWritten) {
  const RunDir run = make_run("missing");
  write_layers(run, {0, 4, 5});
  test::expect_error([&] { gather_run_directory(run.layout.dir()); },
                     {"3 of 6 layers are neither calibrated nor skipped", "layers 1-3;", run.layout.layers_dir(),
                      "run calibrate again"});
  EXPECT_FALSE(std::filesystem::exists(run.layout.transforms_path()));
}

TEST(GatherRun, ForeignFilesEditedConfigAndBusyRunsAreRefused) {
  const RunDir run = make_run("refused");
  write_layers(run, {0, 1, 2, 3, 4, 5});
  // A layer file of another calibration (another config hash).
  store::Attributes foreign = run.identity.file_attributes();
  foreign.insert_or_assign("config_hash", "0123456789abcdef");
  write_layer(run, 2, "calibrated", foreign);
  test::expect_error([&] { gather_run_directory(run.layout.dir()); },
                     {run.layout.layer_params_path(2), "belongs to another run", "config_hash"});
  write_layers(run, {2});

  // A job holding the directory (this process: alive, so not stale).
  {
    const cluster::RunLock held = cluster::RunLock::acquire(run.layout.dir());
    test::expect_error([&] { gather_run_directory(run.layout.dir()); }, {"is in use by", cluster::RunLock::kFileName});
  }
  // config.yaml edited after the run: its settings no longer hash to the manifest's.
  write_file_atomic(run.layout.config_path(), run_config_yaml(load_run_config("", {"flatquant.epochs=3"})));
  test::expect_error([&] { gather_run_directory(run.layout.dir()); }, {run.layout.config_path(), "config_hash"});

  test::expect_error([&] { gather_run_directory(run.layout.dir() + "/nowhere"); },
                     {"is not a calibration run directory", "manifest.json"});
}

}  // namespace
}  // namespace fq::pipelines
