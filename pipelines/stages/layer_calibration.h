// Calibrates one decoder layer (ALGORITHM.md "Calibration loop"): given the layer's full-precision inputs
// and outputs, train its FlatQuant transforms and clipping so that the quantized layer maps the same
// inputs to the same outputs. Independent of every other layer, so ranks calibrate layers in parallel.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "lib/core/json.h"
#include "lib/flat/flat_layer.h"
#include "lib/flat/flat_options.h"
#include "lib/io/model_config.h"
#include "lib/model/layer_weights.h"
#include "lib/model/rope.h"
#include "lib/quant/calibration_optimizer.h"

namespace fq::pipelines {

struct LayerCalibrationSettings {
  flat::FlatOptions options;
  int64_t epochs = 15;
  int64_t batch_size = 4;
  int64_t micro_batch = 0;  // samples per forward/backward pass, gradients accumulated (0: the whole batch)
  // Samples per forward pass: the micro-batch when set (statistics and evaluation passes too).
  int64_t pass_size() const { return micro_batch > 0 && micro_batch < batch_size ? micro_batch : batch_size; }
  double lr = 5e-3;
  bool warmup = false;
  bool smoothquant_init = true;  // diag_init sq_style (otherwise ones)
  double diag_alpha = 0.3;
  uint64_t seed = 0;  // mixed with the layer index: results do not depend on which rank runs the layer
  c10::ScalarType compute_dtype = c10::kBFloat16;
  c10::Device device = c10::kCPU;
  // Expert parallelism: the group of ranks sharing a MoE layer, this rank's experts (the weights passed to
  // calibrate_layer hold only those). Every member calls calibrate_layer for the layer together;
  // should_stop must then answer the same on every member (a group decision).
  flat::ExpertGroup expert_group;
  int64_t num_layers = 0;  // for progress lines
  std::function<bool()> should_stop;  // polled before every step; true abandons the layer
  // After every epoch: {"layer", "epoch", "epochs", "loss", "elapsed"} for the progress board.
  std::function<void(const Json&)> on_epoch;
};

struct LayerCalibrationResult {
  flat::NamedTensors frozen;
  double mse_before = 0;  // mean over batches, the initial (untrained) quantized layer
  double mse_after = 0;
  double seconds = 0;
  int64_t steps = 0;
  int64_t trainable_params = 0;
};

// Thrown when a stop was requested (SIGTERM/SIGUSR1) in the middle of a layer: the layer is abandoned and
// redone on resume.
struct CalibrationStopped {};

// The SmoothQuant-style initial diag scales of every group that has one, from one pass over `inputs`.
void init_diag_scales(const io::ModelConfig& config, const model::LayerWeights& weights, flat::FlatLayer& flat,
                      const at::Tensor& inputs, const model::RopeTables& rope, const LayerCalibrationSettings& s);

// One optimisation step on one batch (input, target: [batch, seqlen, hidden] on the device): refresh the
// transforms, run the quantized layer, MSE in float32 against the target, step. Returns that MSE. With
// 0 < micro_batch < batch the batch runs in parts of micro_batch samples with accumulated gradients: the
// same update (the loss is a mean over tokens, the quantizers per token) in a fraction of the memory.
double calibration_step(const io::ModelConfig& config, const model::LayerWeights& weights, flat::FlatLayer& flat,
                        quant::CalibrationOptimizer& optimizer, const model::RopeTables& rope,
                        const at::Tensor& input, const at::Tensor& target, int64_t micro_batch = 0);

// inputs, targets: [nsamples, seqlen, hidden] (any float dtype, CPU or the device); weights on the device in
// the compute dtype.
LayerCalibrationResult calibrate_layer(const io::ModelConfig& config, int64_t layer,
                                       const model::LayerWeights& weights, const at::Tensor& inputs,
                                       const at::Tensor& targets, const LayerCalibrationSettings& settings);

}  // namespace fq::pipelines
