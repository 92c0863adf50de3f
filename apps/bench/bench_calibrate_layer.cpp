// Calibration cost of one full-size decoder layer on one GPU: flatquant's own calibration step
// (pipelines/stages/layer_calibration: the step `flatquant calibrate` runs) on a random layer of a
// preset's shapes (DeepSeek V3 MoE or dense layer, LLaMA-3-70B layer), with random inputs.
//
// Measures, after one warm-up step: the full-precision target forward per sample, the SmoothQuant statistics
// pass, the quantized no-grad forward of the before/after MSE passes, the training step (median), and the
// peak GPU memory; then extrapolates the whole layer at the paper's settings (128 samples, 15 epochs):
//   layer_s = 15 * (128 / batch) * step + 128 * (fp_target + sq_init) + 2 * (128 / batch) * eval_forward
// which is everything `flatquant calibrate` spends on a layer except reading and writing its activations.
// Prints one JSON line (the fields of the official harness's line, plus ours) and appends it to --json.
//
//   bench_calibrate_layer --preset deepseek-v3 --layer 3 --samples 16 --batch 8 --seqlen 4096 --steps 6
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <boost/program_options.hpp>
#include <torch/version.h>

#include "lib/core/error.h"
#include "lib/core/json.h"
#include "lib/core/stopwatch.h"
#include "lib/flat/flat_layer.h"
#include "lib/model/decoder_layer.h"
#include "lib/model/random_layer.h"
#include "lib/model/synthetic_checkpoint.h"
#include "pipelines/config/quant_options.h"
#include "pipelines/config/run_config.h"
#include "pipelines/stages/layer_calibration.h"

#ifdef FLATQUANT_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

namespace po = boost::program_options;
using namespace fq;

namespace {

// Waits for the device's queued work, so that host clocks time GPU work.
void synchronize(c10::Device device) {
#ifdef FLATQUANT_HAVE_CUDA
  if (device.is_cuda()) c10::cuda::device_synchronize();
#endif
  (void)device;
}

void reset_peak_memory(c10::Device device) {
#ifdef FLATQUANT_HAVE_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  (void)device;
}

// Bytes allocated by the caching allocator in GiB (0 on the CPU): now, or the peak since the last reset.
double allocated_gib(c10::Device device, bool peak) {
#ifdef FLATQUANT_HAVE_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    const auto& aggregate = stats.allocated_bytes[0];
    return static_cast<double>(peak ? aggregate.peak : aggregate.current) / (1ull << 30);
  }
#endif
  (void)device;
  (void)peak;
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double round_to(double x, double unit) { return std::round(x / unit) * unit; }

int bench(const po::variables_map& vm) {
  const std::string preset_name = vm["preset"].as<std::string>();
  const auto preset = model::parse_synthetic_preset(preset_name);
  const io::ModelConfig config =
      io::parse_model_config_text(model::synthetic_config(preset, io::ModelFamily::kDeepseekV3).dump(),
                                  "preset " + preset_name);
  const int64_t layer = vm["layer"].as<int64_t>();
  const int64_t samples = vm["samples"].as<int64_t>();
  const int64_t batch = vm["batch"].as<int64_t>();
  const int64_t seqlen = vm["seqlen"].as<int64_t>();
  const int64_t steps = vm["steps"].as<int64_t>();
  const int64_t paper_samples = vm["paper-samples"].as<int64_t>();
  const int64_t paper_epochs = vm["paper-epochs"].as<int64_t>();
  FQ_CHECK(layer >= 0 && layer < config.num_hidden_layers, "--layer ", layer, " is outside the preset's ",
           config.num_hidden_layers, " layers");
  FQ_CHECK(batch >= 1 && samples >= batch, "--samples ", samples, " must be at least --batch ", batch);
  FQ_CHECK(steps >= 2, "--steps must be at least 2 (the first is warm-up)");

  pipelines::RunConfig run = pipelines::load_run_config("", {});
  run.moe.routed_down_transform = vm["routed-down"].as<std::string>();
  run.flatquant.compute_dtype = vm["dtype"].as<std::string>();
  pipelines::LayerCalibrationSettings settings;
  settings.options = pipelines::flat_options(run);
  settings.compute_dtype = pipelines::compute_dtype(run);
  settings.batch_size = batch;
  settings.micro_batch = vm["micro-batch"].as<int64_t>();
  const std::string device_name = vm["device"].as<std::string>();
  settings.device = c10::Device(device_name == "auto" ? (at::hasCUDA() ? "cuda:0" : "cpu") : device_name);
  const c10::Device device = settings.device;

  at::manual_seed(0);
  const bool moe = config.is_moe_layer(layer);
  const model::LayerWeights weights = model::random_layer_weights(config, layer, settings.compute_dtype, device);
  synchronize(device);
  const double weights_gib = allocated_gib(device, false);
  const at::Tensor inputs =
      at::randn({samples, seqlen, config.hidden_size}, at::TensorOptions().dtype(settings.compute_dtype).device(device));
  at::Tensor targets = at::empty_like(inputs);
  const model::RopeTables rope = model::RotaryEmbedding::for_model(config).tables(seqlen, settings.compute_dtype, device);
  synchronize(device);
  reset_peak_memory(device);

  // Full-precision targets, one sample at a time as the capture stage runs them (after one untimed sample:
  // CUDA loads kernels and cuBLAS sets up on first use).
  Stopwatch clock;
  {
    at::NoGradGuard no_grad;
    model::LayerHooks plain;
    targets[0].copy_(model::layer_forward(config, weights, inputs.narrow(0, 0, 1), rope, plain)[0]);
    synchronize(device);
    clock.reset();
    for (int64_t j = 0; j < samples; ++j) {
      targets[j].copy_(model::layer_forward(config, weights, inputs.narrow(0, j, 1), rope, plain)[0]);
    }
  }
  synchronize(device);
  const double fp_target_s = clock.seconds() / samples;

  at::Generator gen = at::detail::createCPUGenerator(1);
  flat::FlatLayer flat(config, layer, settings.options, gen, device);
  clock.reset();
  pipelines::init_diag_scales(config, weights, flat, inputs, rope, settings);
  synchronize(device);
  const double sq_init_s = clock.seconds() / samples;

  // The quantized forward of the MSE passes: the second of two runs (the first loads kernels).
  double eval_forward_s = 0;
  for (int run = 0; run < 2; ++run) {
    at::NoGradGuard no_grad;
    clock.reset();
    flat.refresh();
    for (int64_t begin = 0; begin < batch; begin += settings.pass_size()) {
      model::layer_forward(config, weights, inputs.narrow(0, begin, std::min(settings.pass_size(), batch - begin)),
                           rope, flat);
    }
    synchronize(device);
    eval_forward_s = clock.seconds();
  }

  quant::TrainableParameters params = flat.trainable_parameters();
  const int64_t paper_steps = paper_epochs * (paper_samples / batch);
  quant::CalibrationOptimizer optimizer(params, {run.flatquant.lr, paper_steps, false});
  std::vector<double> times;
  std::vector<double> losses;
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t begin = (s * batch) % (samples - batch + 1);
    clock.reset();
    losses.push_back(pipelines::calibration_step(config, weights, flat, optimizer, rope, inputs.narrow(0, begin, batch),
                                                 targets.narrow(0, begin, batch), settings.micro_batch));
    synchronize(device);
    times.push_back(clock.seconds());
    std::fprintf(stderr, "[bench_calibrate_layer] step %lld/%lld %.3f s loss %.6g\n", static_cast<long long>(s + 1),
                 static_cast<long long>(steps), times.back(), losses.back());
  }
  const double step_s = median(std::vector<double>(times.begin() + 1, times.end()));
  const double batches = static_cast<double>(paper_samples / batch);
  const double layer_s = paper_epochs * batches * step_s + paper_samples * (fp_target_s + sq_init_s) +
                         2 * batches * eval_forward_s;

  Json line{{"impl", "flatquant"},
            {"preset", preset_name},
            {"layer_id", layer},
            {"kind", moe ? "moe" : "dense"},
            {"routed_down", run.moe.routed_down_transform},
            {"dtype", run.flatquant.compute_dtype},
            {"bsz", batch},
            {"micro_batch", settings.micro_batch},
            {"seqlen", seqlen},
            {"nsamples", samples},
            {"weights_gib", round_to(weights_gib, 0.01)},
            {"trainable_params", params.numel()},
            {"fp_target_s_per_sample", round_to(fp_target_s, 1e-4)},
            {"sq_init_s_per_sample", round_to(sq_init_s, 1e-4)},
            {"eval_forward_s_per_batch", round_to(eval_forward_s, 1e-4)},
            {"step_s_first", round_to(times.front(), 1e-3)},
            {"step_s_median", round_to(step_s, 1e-3)},
            {"losses", losses},
            {"peak_mem_gib", round_to(allocated_gib(device, true), 0.01)},
            {"device", device.str()},
            {"torch", TORCH_VERSION},
            {"layer_s_paper_settings", round_to(layer_s, 0.1)}};
  std::cout << line.dump() << std::endl;
  if (vm.count("json")) {
    std::ofstream out(vm["json"].as<std::string>(), std::ios::app);
    FQ_CHECK(out.good(), "cannot append to --json ", vm["json"].as<std::string>());
    out << line.dump() << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description options("bench_calibrate_layer options");
  options.add_options()("help", "show this help")(
      "preset", po::value<std::string>()->default_value("deepseek-v3"), "tiny | llama-3-8b | llama-3-70b | deepseek-v3")(
      "layer", po::value<int64_t>()->default_value(3), "layer index (DeepSeek V3: 0-2 dense, 3+ MoE)")(
      "samples", po::value<int64_t>()->default_value(16), "random calibration samples held on the device")(
      "batch", po::value<int64_t>()->default_value(8), "samples per step")(
      "micro-batch", po::value<int64_t>()->default_value(0), "samples per forward/backward pass (0: the batch)")(
      "seqlen", po::value<int64_t>()->default_value(4096), "tokens per sample")(
      "steps", po::value<int64_t>()->default_value(6), "training steps timed (the first is warm-up)")(
      "routed-down", po::value<std::string>()->default_value("shared"), "MoE routed down transform: shared | per_expert")(
      "dtype", po::value<std::string>()->default_value("bfloat16"), "weights and compute dtype: bfloat16 | float32")(
      "device", po::value<std::string>()->default_value("auto"), "auto | cpu | cuda | cuda:N")(
      "paper-samples", po::value<int64_t>()->default_value(128), "calibration samples of the extrapolation")(
      "paper-epochs", po::value<int64_t>()->default_value(15), "epochs of the extrapolation")(
      "json", po::value<std::string>(), "append the JSON line to this file");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bench_calibrate_layer: " << e.what() << "\n" << options;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << options;
    return 0;
  }
  try {
    return bench(vm);
  } catch (const std::exception& e) {
    std::cerr << "bench_calibrate_layer: " << e.what() << "\n";
    return 1;
  }
}
