// W4A4 linear benchmark on the H100: the fused Kronecker transform + int4 quantization (mma.sync and wgmma
// kernels), the W4A4 GEMM (mma.sync and wgmma), and the BF16 cuBLAS GEMM (at::matmul) of the same shape, timed in the same run,
// for the LLaMA-70B and DeepSeek V3 linears at several token counts.
//
// Timing: CUDA events around batches of back-to-back calls on the current stream, after warm-up; the median
// batch gives the time per call (host launch overhead included where it exceeds the GPU time, as for one
// token). Inputs rotate among enough copies to exceed twice the L2 cache. One JSON line per (linear, tokens)
// as it goes, then a table.
//
//   bench_w4a4 [--models llama70b,dsv3] [--linears qkv_proj,...] [--tokens 1,16,256,2048,8192] [--target-ms 30]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/program_options.hpp>

#include "lib/core/error.h"

#ifdef FLATQUANT_HAVE_CUDA
#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include "kernels/cuda/cuda_check.cuh"
#include "kernels/cuda/w4a4_gemm.cuh"
#include "kernels/int4_pack.h"
#include "kernels/int4_weight.h"
#include "kernels/quant_ops.h"
#include "kernels/w4a4_gemm_ops.h"
#endif

namespace po = boost::program_options;

namespace {

#ifdef FLATQUANT_HAVE_CUDA
using namespace fq::kernels;

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}


cudaStream_t stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

// RAII CUDA event (movable, not copyable).
class Event {
 public:
  Event() { FQ_CUDA_CHECK(cudaEventCreate(&event_)); }
  ~Event() {
    if (event_ != nullptr) cudaEventDestroy(event_);
  }
  Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  Event& operator=(Event&& other) noexcept {
    std::swap(event_, other.event_);
    return *this;
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record() { FQ_CUDA_CHECK(cudaEventRecord(event_, stream())); }
  void wait() { FQ_CUDA_CHECK(cudaEventSynchronize(event_)); }
  float ms_since(const Event& start) const {
    float ms = 0.0f;
    FQ_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
    return ms;
  }

 private:
  cudaEvent_t event_ = nullptr;
};

// Median milliseconds per call of fn(i) (i counts calls, for input rotation): warm-up, then ten batches
// sized from a probe call so that all of them take about target_ms.
template <typename Fn>
double time_ms(Fn&& fn, double target_ms) {
  int64_t call = 0;
  for (int i = 0; i < 3; ++i) fn(call++);
  Event a, b;
  a.record();
  fn(call++);
  b.record();
  b.wait();
  const double probe = std::max(1e-3, static_cast<double>(b.ms_since(a)));
  const int per_batch = static_cast<int>(std::clamp(target_ms / 10.0 / probe, 1.0, 200.0));
  std::vector<Event> marks(11);
  marks[0].record();
  for (int batch = 0; batch < 10; ++batch) {
    for (int i = 0; i < per_batch; ++i) fn(call++);
    marks[batch + 1].record();
  }
  marks[10].wait();
  std::vector<double> per_call;
  for (int batch = 0; batch < 10; ++batch) per_call.push_back(marks[batch + 1].ms_since(marks[batch]) / per_batch);
  std::sort(per_call.begin(), per_call.end());
  return 0.5 * (per_call[4] + per_call[5]);
}

// Device-to-device copy bandwidth (bytes read + written per second) of a 1 GiB buffer.
double copy_gb_per_s() {
  const int64_t bytes = int64_t{1} << 30;
  at::Tensor src = at::empty({bytes}, at::TensorOptions().device(at::kCUDA).dtype(at::kByte));
  at::Tensor dst = at::empty_like(src);
  src.fill_(1);
  const double ms = time_ms(
      [&](int64_t) {
        FQ_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), bytes, cudaMemcpyDeviceToDevice, stream()));
      },
      200.0);
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9;
}

// One linear (or a MoE expert group) of a model.
struct Linear {
  std::string model;
  std::string name;
  int64_t k;        // input features
  int64_t n;        // output features
  int64_t n1, n2;   // Kronecker factors of the input transform
  bool right;       // R present (false: heads mixed by L only)
  int64_t experts;  // > 1: grouped GEMM over routed experts (top-8, tokens spread evenly)
};

const std::vector<Linear>& linears() {
  static const std::vector<Linear> table = {
      // LLaMA-2/3-70B: hidden 8192, intermediate 28672, 64 heads (8 KV) x 128.
      {"llama70b", "qkv_proj", 8192, 10240, 64, 128, true, 1},
      {"llama70b", "o_proj", 8192, 8192, 64, 128, false, 1},
      {"llama70b", "gate_up_proj", 8192, 57344, 64, 128, true, 1},
      {"llama70b", "down_proj", 28672, 8192, 128, 224, true, 1},
      // DeepSeek V3: hidden 7168, q_lora 1536, kv_lora 512 + rope 64, 128 heads x (128 + 64), v 128,
      // dense intermediate 18432, 256 routed experts of intermediate 2048, top-8.
      {"dsv3", "q_a+kv_a_proj", 7168, 2112, 64, 112, true, 1},
      {"dsv3", "q_b_proj", 1536, 24576, 32, 48, true, 1},
      {"dsv3", "o_proj", 16384, 7168, 128, 128, true, 1},
      {"dsv3", "dense_gate_up", 7168, 36864, 64, 112, true, 1},
      {"dsv3", "dense_down", 18432, 7168, 128, 144, true, 1},
      {"dsv3", "expert_gate_up", 7168, 4096, 64, 112, true, 256},
      {"dsv3", "expert_down", 2048, 7168, 32, 64, true, 256},
  };
  return table;
}

struct Result {
  std::string model, name;
  int64_t tokens = 0, rows = 0;
  double tq_ms = 0, tq_mma_ms = 0, tq_wgmma_ms = 0, tq_wgmma_mismatch = 0, tq_unfused_ms = 0, gemm_mma_ms = 0, gemm_wgmma_ms = 0, gemm_ms = 0, bf16_ms = 0;
  double tq_gbs = 0, tq_copy_pct = 0, gemm_tops = 0, bf16_tflops = 0;
  double linear_ms() const { return tq_ms + gemm_ms; }
  double speedup() const { return bf16_ms / linear_ms(); }
};

// Random activations with outlier channels, bf16 [rows, k], generated on the GPU.
at::Tensor activations(int64_t rows, int64_t k) {
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  at::Tensor x = at::randn({rows, k}, opts);
  x.slice(1, 5, k, 37).mul_(40.0f);
  return x.to(at::kBFloat16);
}

at::Tensor random_factor(int64_t n) {
  const at::Tensor q = std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
  return q.to(at::kFloat).to(at::kCUDA);
}

// Sum of each weight row's codes, expert by expert (unpacking all experts at once would not fit).
at::Tensor rowsum_of(const at::Tensor& packed) {
  if (packed.dim() == 2) return unpack_int4(packed, true).to(at::kInt).sum(at::IntArrayRef{-1}, false, at::kInt);
  std::vector<at::Tensor> parts;
  for (int64_t e = 0; e < packed.size(0); ++e) parts.push_back(rowsum_of(packed[e]));
  return at::stack(parts).contiguous();
}

Result run(const Linear& lin, int64_t tokens, double copy_gbs, double target_ms) {
  Result r;
  r.model = lin.model;
  r.name = lin.name;
  r.tokens = tokens;
  const bool grouped = lin.experts > 1;
  r.rows = grouped ? tokens * 8 : tokens;
  const int64_t per_expert = grouped ? r.rows / lin.experts : r.rows;
  const auto gpu = at::TensorOptions().device(at::kCUDA);

  // Enough copies of everything one call touches to exceed twice the 50 MB L2.
  const double set_bytes = static_cast<double>(lin.experts * lin.n * lin.k * 2 + r.rows * lin.k * 2);
  const int sets = static_cast<int>(std::clamp(std::ceil(100e6 / set_bytes), 1.0, 8.0));
  KronTransform t;
  t.left = random_factor(lin.n1);
  if (lin.right) t.right = random_factor(lin.n2);
  std::vector<at::Tensor> x, w_bf16;
  std::vector<Int4Weight> w4;
  std::vector<PackedInt4Rows> q;
  for (int s = 0; s < sets; ++s) {
    x.push_back(activations(tokens, lin.k));
    const std::vector<int64_t> wshape = grouped ? std::vector<int64_t>{lin.experts, lin.n, lin.k / 2}
                                                : std::vector<int64_t>{lin.n, lin.k / 2};
    Int4Weight w;
    w.packed = at::randint(0, 256, wshape, gpu.dtype(at::kByte));  // any byte is two valid signed codes
    w.scale = (at::rand(grouped ? std::vector<int64_t>{lin.experts, lin.n} : std::vector<int64_t>{lin.n},
                        gpu.dtype(at::kFloat)) * 1e-2).contiguous();
    w.rowsum = rowsum_of(w.packed);
    w.in_features = lin.k;
    w4.push_back(w);
    w_bf16.push_back(grouped ? at::randn({lin.experts, lin.n, lin.k}, gpu.dtype(at::kBFloat16))
                             : at::randn({lin.n, lin.k}, gpu.dtype(at::kBFloat16)));
  }
  const TokenQuantConfig cfg;
  for (int s = 0; s < sets; ++s) {
    PackedInt4Rows qs = kron_transform_quantize(x[s], t, cfg, TransformPrecision::kBf16);
    if (grouped) {  // the routed copies of every token (sorted by expert): tokens * 8 rows
      const at::Tensor idx = at::arange(r.rows, gpu.dtype(at::kLong)).remainder(tokens);
      qs.packed = qs.packed.index_select(0, idx).contiguous();
      qs.scale = qs.scale.index_select(0, idx).contiguous();
    }
    q.push_back(qs);
  }
  at::Tensor offsets;
  if (grouped) offsets = at::arange(0, r.rows + 1, per_expert, gpu.dtype(at::kLong));

  // Both fused kernels; the wgmma one's codes are checked against mma.sync's first (they sum in another
  // order, so a code may move by one step at a rounding boundary: reported as a fraction, NaN above 1e-3).
  auto tq = [&](FusedKernel kernel) {
    return time_ms(
        [&](int64_t i) { kron_transform_quantize(x[i % sets], t, cfg, TransformPrecision::kBf16, kernel); },
        target_ms);
  };
  r.tq_mma_ms = tq(FusedKernel::kMmaSync);
  r.tq_ms = r.tq_mma_ms;
  if (gpu::wgmma_available()) {
    const PackedInt4Rows a = kron_transform_quantize(x[0], t, cfg, TransformPrecision::kBf16, FusedKernel::kMmaSync);
    const PackedInt4Rows b = kron_transform_quantize(x[0], t, cfg, TransformPrecision::kBf16, FusedKernel::kWgmma);
    r.tq_wgmma_mismatch =
        unpack_int4(a.packed, true).ne(unpack_int4(b.packed, true)).to(at::kDouble).mean().item<double>();
    if (r.tq_wgmma_mismatch > 1e-3) {
      std::fprintf(stderr, "bench_w4a4: %s %s tokens=%lld: wgmma t+q codes differ from mma.sync's at %.2e\n",
                   lin.model.c_str(), lin.name.c_str(), static_cast<long long>(tokens), r.tq_wgmma_mismatch);
      r.tq_wgmma_ms = std::nan("");
    } else {
      r.tq_wgmma_ms = tq(FusedKernel::kWgmma);
      r.tq_ms = std::min(r.tq_ms, r.tq_wgmma_ms);
    }
  }
  r.tq_unfused_ms = time_ms(
      [&](int64_t i) { kron_transform_quantize(x[i % sets], t, cfg, TransformPrecision::kFloat32); }, target_ms);
  const double tq_bytes = static_cast<double>(tokens) * (lin.k * 2 + lin.k / 2 + 4);
  r.tq_gbs = tq_bytes / (r.tq_ms * 1e-3) / 1e9;
  r.tq_copy_pct = 100.0 * r.tq_gbs / copy_gbs;

  // Every kernel computes exact integer sums and the same float32 epilogue: a variant whose output differs
  // from mma.sync's is wrong and is reported as such (NaN), not timed.
  const at::Tensor expected = w4a4_gemm(q[0], w4[0], at::Tensor(), offsets, W4A4Kernel::kMmaSync);
  auto gemm = [&](W4A4Kernel kernel) {
    if (!at::equal(w4a4_gemm(q[0], w4[0], at::Tensor(), offsets, kernel), expected)) {
      std::fprintf(stderr, "bench_w4a4: %s %s tokens=%lld: kernel %d disagrees with mma.sync\n", lin.model.c_str(),
                   lin.name.c_str(), static_cast<long long>(tokens), static_cast<int>(kernel));
      return std::nan("");
    }
    return time_ms([&](int64_t i) { w4a4_gemm(q[i % sets], w4[i % sets], at::Tensor(), offsets, kernel); },
                   target_ms);
  };
  r.gemm_mma_ms = gemm(W4A4Kernel::kMmaSync);
  r.gemm_ms = r.gemm_mma_ms;
  if (gpu::wgmma_available() && per_expert >= 64) {
    r.gemm_wgmma_ms = gemm(W4A4Kernel::kWgmma);
    if (std::isfinite(r.gemm_wgmma_ms)) r.gemm_ms = std::min(r.gemm_ms, r.gemm_wgmma_ms);
  }
  const double flops = 2.0 * static_cast<double>(r.rows) * lin.n * lin.k;
  r.gemm_tops = flops / (r.gemm_ms * 1e-3) / 1e12;

  if (grouped) {  // cuBLAS batched: tokens spread evenly over the experts
    std::vector<at::Tensor> xg;
    for (int s = 0; s < sets; ++s) xg.push_back(activations(r.rows, lin.k).reshape({lin.experts, per_expert, lin.k}));
    r.bf16_ms = time_ms([&](int64_t i) { at::matmul(xg[i % sets], w_bf16[i % sets].transpose(1, 2)); }, target_ms);
  } else {
    r.bf16_ms = time_ms([&](int64_t i) { at::matmul(x[i % sets], w_bf16[i % sets].t()); }, target_ms);
  }
  r.bf16_tflops = flops / (r.bf16_ms * 1e-3) / 1e12;
  return r;
}

std::string json(const Result& r) {
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                "{\"bench\":\"w4a4\",\"model\":\"%s\",\"linear\":\"%s\",\"tokens\":%lld,\"gemm_rows\":%lld,"
                "\"tq_fused_us\":%.2f,\"tq_mma_sync_us\":%.2f,\"tq_wgmma_us\":%.2f,\"tq_wgmma_code_mismatch\":%.2e,"
                "\"tq_unfused_fp32_us\":%.2f,\"tq_GBps\":%.1f,\"tq_pct_copy\":%.1f,"
                "\"gemm_mma_sync_us\":%.2f,\"gemm_wgmma_us\":%.2f,\"gemm_us\":%.2f,\"gemm_TOPS\":%.1f,"
                "\"tq_over_gemm\":%.3f,\"w4a4_linear_us\":%.2f,\"bf16_us\":%.2f,\"bf16_TFLOPS\":%.1f,"
                "\"speedup\":%.3f}",
                r.model.c_str(), r.name.c_str(), static_cast<long long>(r.tokens), static_cast<long long>(r.rows),
                r.tq_ms * 1e3, r.tq_mma_ms * 1e3, r.tq_wgmma_ms * 1e3, r.tq_wgmma_mismatch, r.tq_unfused_ms * 1e3, r.tq_gbs, r.tq_copy_pct, r.gemm_mma_ms * 1e3,
                r.gemm_wgmma_ms * 1e3, r.gemm_ms * 1e3, r.gemm_tops, r.tq_ms / r.gemm_ms, r.linear_ms() * 1e3,
                r.bf16_ms * 1e3, r.bf16_tflops, r.speedup());
  return buf;
}

void print_table(const std::vector<Result>& results, double copy_gbs) {
  // Whole-layer prefill: the sum over one decoder layer's linears (dense layers; MoE rows are per group).
  std::map<std::pair<std::string, int64_t>, std::pair<double, double>> layer;
  for (const Result& r : results) {
    if (r.model != "llama70b") continue;
    auto& sums = layer[{r.model, r.tokens}];
    sums.first += r.linear_ms();
    sums.second += r.bf16_ms;
  }
  for (const auto& [key, sums] : layer) {
    std::printf("{\"bench\":\"w4a4_layer\",\"model\":\"%s\",\"tokens\":%lld,\"w4a4_us\":%.1f,\"bf16_us\":%.1f,"
                "\"speedup\":%.3f}\n",
                key.first.c_str(), static_cast<long long>(key.second), sums.first * 1e3, sums.second * 1e3,
                sums.second / sums.first);
  }
  int device = 0;
  cudaDeviceProp prop{};
  FQ_CUDA_CHECK(cudaGetDevice(&device));
  FQ_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  std::printf("\nW4A4 linears on %s; device copy bandwidth %.0f GB/s (read + write)\n", prop.name, copy_gbs);
  std::printf("%-9s %-15s %6s | %8s %8s %6s %5s %8s | %8s %8s %5s %6s | %8s %8s %6s %7s\n", "model", "linear",
              "tokens", "tq mma", "tq wgmma", "GB/s", "%cp", "unfus us", "mma us", "wgmma us", "TOPS", "tq/gm",
              "w4a4 us", "bf16 us", "TFLOPS", "speedup");
  for (const Result& r : results) {
    std::printf("%-9s %-15s %6lld | %8.1f %8.1f %6.0f %5.1f %8.1f | %8.1f %8.1f %5.0f %6.3f | %8.1f %8.1f %6.0f %6.2fx\n",
                r.model.c_str(), r.name.c_str(), static_cast<long long>(r.tokens), r.tq_mma_ms * 1e3,
                r.tq_wgmma_ms * 1e3, r.tq_gbs,
                r.tq_copy_pct, r.tq_unfused_ms * 1e3, r.gemm_mma_ms * 1e3, r.gemm_wgmma_ms * 1e3, r.gemm_tops,
                r.tq_ms / r.gemm_ms, r.linear_ms() * 1e3, r.bf16_ms * 1e3, r.bf16_tflops, r.speedup());
  }
}

int bench(const po::variables_map& vm) {
  FQ_CHECK(at::hasCUDA(), "bench_w4a4: no CUDA device is visible");
  const auto models = split(vm["models"].as<std::string>());
  const auto only = split(vm["linears"].as<std::string>());
  std::vector<int64_t> tokens;
  for (const auto& t : split(vm["tokens"].as<std::string>())) tokens.push_back(std::stoll(t));
  const double target_ms = vm["target-ms"].as<double>();
  const double copy_gbs = copy_gb_per_s();
  std::printf("{\"bench\":\"copy\",\"GBps\":%.1f,\"wgmma\":%s}\n", copy_gbs,
              gpu::wgmma_available() ? "true" : "false");
  std::vector<Result> results;
  for (const Linear& lin : linears()) {
    if (std::find(models.begin(), models.end(), lin.model) == models.end()) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), lin.name) == only.end()) continue;
    for (int64_t t : tokens) {
      if (lin.experts > 1 && t * 8 < lin.experts) continue;  // fewer routed rows than experts
      results.push_back(run(lin, t, copy_gbs, target_ms));
      std::printf("%s\n", json(results.back()).c_str());
      std::fflush(stdout);
    }
  }
  print_table(results, copy_gbs);
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  po::options_description options("bench_w4a4 options");
  options.add_options()("help", "print this help")(
      "models", po::value<std::string>()->default_value("llama70b,dsv3"), "comma-separated: llama70b, dsv3")(
      "linears", po::value<std::string>()->default_value(""), "comma-separated linear names (empty: all)")(
      "tokens", po::value<std::string>()->default_value("1,16,256,2048,8192"), "comma-separated token counts")(
      "target-ms", po::value<double>()->default_value(30.0), "GPU time spent timing each implementation");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, options), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "bench_w4a4: " << e.what() << "\n" << options;
    return 2;
  }
  if (vm.count("help")) {
    std::cout << options;
    return 0;
  }
#ifdef FLATQUANT_HAVE_CUDA
  try {
    return bench(vm);
  } catch (const std::exception& e) {
    std::cerr << "bench_w4a4: " << e.what() << "\n";
    return 1;
  }
#else
  std::cerr << "bench_w4a4: flatquant was built without CUDA kernels (FLATQUANT_HAVE_CUDA is off)\n";
  return 1;
#endif
}
