#include "kernels/quant_ops.h"

#include <ATen/ATen.h>

#include "kernels/cpu/kron_transform_cpu.h"
#include "kernels/cpu/per_token_quant_cpu.h"
#include "kernels/int4_pack.h"
#include "kernels/shape_checks.h"
#include "kernels/w4a4_operands.h"
#include "lib/core/error.h"

#ifdef FLATQUANT_HAVE_CUDA
#include <map>
#include <mutex>
#include <tuple>

#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "lib/core/log.h"

#include "kernels/cuda/kron_transform_quant.cuh"
#include "kernels/cuda/token_quant_kernels.cuh"
#endif

namespace fq::kernels {
namespace {

// x [..., n] as a contiguous [rows, n] view.
at::Tensor as_rows(const at::Tensor& x, const char* op) {
  FQ_CHECK(x.defined() && x.dim() >= 1, op, ": tensor 'x' must have at least one dimension");
  FQ_CHECK(at::isFloatingType(x.scalar_type()), op, ": tensor 'x' must be floating point, got ", x.scalar_type());
  return x.reshape({-1, x.size(-1)}).contiguous();
}

PackedInt4Rows quantize_rows_cpu_packed(const at::Tensor& rows, const TokenQuantConfig& cfg) {
  const QuantizedCodes c = quantize_rows_cpu(rows, cfg);
  PackedInt4Rows q;
  q.packed = pack_int4(c.codes, cfg.symmetric, "codes");
  q.scale = c.scale;
  q.zero = c.zero;
  q.cols = rows.size(1);
  q.symmetric = cfg.symmetric;
  return q;
}

#ifdef FLATQUANT_HAVE_CUDA
PackedInt4Rows empty_rows(int64_t rows, int64_t cols, bool symmetric, const at::TensorOptions& device) {
  PackedInt4Rows q;
  q.packed = at::empty({rows, cols / 2}, device.dtype(at::kByte));
  q.scale = at::empty({rows}, device.dtype(at::kFloat));
  if (!symmetric) q.zero = at::empty({rows}, device.dtype(at::kFloat));
  q.cols = cols;
  q.symmetric = symmetric;
  return q;
}

PackedInt4Rows quantize_rows_cuda(const at::Tensor& rows_any, const TokenQuantConfig& cfg, const char* op) {
  const int64_t n = rows_any.size(1);
  FQ_CHECK(n % 8 == 0, op, ": the CUDA kernel needs a row length that is a multiple of 8, tensor 'x' has ", n);
  const bool bf16 = rows_any.scalar_type() == at::kBFloat16;
  const at::Tensor rows = bf16 ? rows_any : rows_any.to(at::kFloat);
  const c10::cuda::CUDAGuard guard(rows.device());
  PackedInt4Rows q = empty_rows(rows.size(0), n, cfg.symmetric, rows.options());
  gpu::launch_quantize_rows_int4(rows.data_ptr(), bf16 ? gpu::RowDType::kBFloat16 : gpu::RowDType::kFloat32,
                                 rows.size(0), n, cfg, q.packed.data_ptr<uint8_t>(), q.scale.data_ptr<float>(),
                                 cfg.symmetric ? nullptr : q.zero.data_ptr<float>(),
                                 c10::cuda::getCurrentCUDAStream().stream());
  return q;
}
#endif

PackedInt4Rows quantize_rows_any(const at::Tensor& rows, const TokenQuantConfig& cfg, const char* op) {
  check_token_quant_config(cfg, op);
  FQ_CHECK(cfg.bits == 4, op, ": packed int4 output needs bits == 4, got ", cfg.bits);
  if (rows.device().is_cpu()) return quantize_rows_cpu_packed(rows, cfg);
#ifdef FLATQUANT_HAVE_CUDA
  if (rows.device().is_cuda()) return quantize_rows_cuda(rows, cfg, op);
#endif
  throw Error(fq::str(op, ": no kernel for tensor 'x' on device ", rows.device(), " in this build"));
}

}  // namespace

PackedInt4Rows quantize_rows_int4(const at::Tensor& x, const TokenQuantConfig& cfg) {
  return quantize_rows_any(as_rows(x, "quantize_rows_int4"), cfg, "quantize_rows_int4");
}

namespace {

#ifdef FLATQUANT_HAVE_CUDA
// One fused transform + quantize launch of `kernel` on bf16 rows [rows, n1 * n2] (current device and stream).
PackedInt4Rows run_fused(const at::Tensor& rows, const KronTransform& t, const TokenQuantConfig& cfg, int64_t n1,
                         int64_t n2, gpu::KronQuantKernel kernel) {
  PackedInt4Rows q = empty_rows(rows.size(0), rows.size(1), cfg.symmetric, rows.options());
  gpu::KronQuantArgs args;
  const at::Tensor left = t.left.contiguous();
  const at::Tensor right = t.right.defined() ? t.right.contiguous() : at::Tensor();
  const at::Tensor diag = t.diag.defined() ? t.diag.contiguous() : at::Tensor();
  args.x = reinterpret_cast<const __nv_bfloat16*>(rows.data_ptr());
  args.left = left.data_ptr<float>();
  args.right = right.defined() ? right.data_ptr<float>() : nullptr;
  args.diag = diag.defined() ? diag.data_ptr<float>() : nullptr;
  args.rows = rows.size(0);
  args.n1 = static_cast<int>(n1);
  args.n2 = static_cast<int>(n2);
  args.cfg = cfg;
  args.packed = q.packed.data_ptr<uint8_t>();
  args.scale = q.scale.data_ptr<float>();
  args.zero = cfg.symmetric ? nullptr : q.zero.data_ptr<float>();
  gpu::launch_kron_transform_quant(args, kernel, c10::cuda::getCurrentCUDAStream().stream());
  return q;
}

// kAuto's wgmma choice is confirmed once per process and shape against the mma.sync kernel, on random rows
// with outlier channels, enough that every token team of the wgmma kernel handles several tokens: ptxas
// once gave one of its wgmma operands' registers away inside the token loop (docs/BENCHMARKS.md, "Why"),
// an error only a team's later tokens show. The two kernels sum in another order, so a code may differ by
// one step at a rounding boundary; more than 1e-3 differing codes keeps mma.sync for the shape, with a
// warning.
bool wgmma_agrees_with_mma_sync(const KronTransform& t, int64_t n1, int64_t n2, const at::TensorOptions& device) {
  static std::mutex mutex;
  static std::map<std::tuple<int, int64_t, int64_t, bool, bool>, bool> agreed;
  const auto key = std::make_tuple(device.device().index(), n1, n2, t.right.defined(), t.diag.defined());
  const std::lock_guard<std::mutex> lock(mutex);
  auto it = agreed.find(key);
  if (it != agreed.end()) return it->second;
  const int64_t check_rows = 8 * at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const at::Generator gen = at::detail::createCPUGenerator(20261207);
  at::Tensor x = at::randn({check_rows, n1 * n2}, gen, at::TensorOptions().dtype(at::kFloat));
  x.slice(1, 3, n1 * n2, 29).mul_(30.0f);  // outlier channels, as activations have
  const at::Tensor rows = x.to(device.dtype(at::kBFloat16));
  const PackedInt4Rows a = run_fused(rows, t, TokenQuantConfig{}, n1, n2, gpu::KronQuantKernel::kMmaSync);
  const PackedInt4Rows b = run_fused(rows, t, TokenQuantConfig{}, n1, n2, gpu::KronQuantKernel::kWgmma);
  const double differing =
      unpack_int4(a.packed, true).ne(unpack_int4(b.packed, true)).to(at::kDouble).mean().item<double>();
  const bool ok = differing <= 1e-3;
  if (!ok) {
    log::warn("kernels", "the wgmma transform + quantize kernel disagrees with mma.sync on this shape; using mma.sync",
              {{"n1", static_cast<long long>(n1)}, {"n2", static_cast<long long>(n2)}, {"differing_codes", differing}});
  }
  agreed.emplace(key, ok);
  return ok;
}
#endif

}  // namespace

PackedInt4Rows kron_transform_quantize(const at::Tensor& x, const KronTransform& t, const TokenQuantConfig& cfg,
                                       TransformPrecision precision, FusedKernel kernel) {
  const char* op = "kron_transform_quantize";
  const at::Tensor rows = as_rows(x, op);
  const KronDims dims = check_kron_transform(t, rows.size(1), rows, op);
  check_token_quant_config(cfg, op);
#ifdef FLATQUANT_HAVE_CUDA
  const gpu::KronQuantKernel gpu_kernel = kernel == FusedKernel::kMmaSync ? gpu::KronQuantKernel::kMmaSync
                                          : kernel == FusedKernel::kWgmma ? gpu::KronQuantKernel::kWgmma
                                                                          : gpu::KronQuantKernel::kAuto;
  const bool fused = rows.device().is_cuda() && precision == TransformPrecision::kBf16 &&
                     rows.scalar_type() == at::kBFloat16 && cfg.bits == 4 &&
                     gpu::kron_transform_quant_supported(dims.n1, dims.n2, t.left.defined(), t.right.defined(),
                                                         gpu_kernel);
  FQ_CHECK(fused || kernel == FusedKernel::kAuto, op, ": the requested fused kernel (",
           kernel == FusedKernel::kWgmma ? "wgmma" : "mma.sync",
           ") cannot run here: it needs a CUDA bf16 input, bf16 transform precision, 4 bits, supported factor sizes",
           " (n1 = ", dims.n1, ", n2 = ", dims.n2, ")", kernel == FusedKernel::kWgmma ? " and an sm_90a device" : "");
  if (fused) {
    const c10::cuda::CUDAGuard guard(rows.device());
    gpu::KronQuantKernel chosen = gpu_kernel;
    if (chosen == gpu::KronQuantKernel::kAuto) {
      chosen = gpu::kron_transform_quant_auto_choice(dims.n1, dims.n2, t.left.defined(), t.right.defined());
      if (chosen == gpu::KronQuantKernel::kWgmma && !wgmma_agrees_with_mma_sync(t, dims.n1, dims.n2, rows.options())) {
        chosen = gpu::KronQuantKernel::kMmaSync;
      }
    }
    return run_fused(rows, t, cfg, dims.n1, dims.n2, chosen);
  }
#else
  (void)dims;
  FQ_CHECK(kernel == FusedKernel::kAuto, op, ": a fused CUDA kernel was requested in a build without CUDA");
#endif
  return quantize_rows_any(kron_transform_ref(rows, t, precision), cfg, op);
}

at::Tensor dequantize_rows_int4(const PackedInt4Rows& q, at::ScalarType dtype) {
  const char* op = "dequantize_rows_int4";
  check_packed_rows(q, op, "q");
  FQ_CHECK(at::isFloatingType(dtype), op, ": output dtype must be floating point, got ", dtype);
  if (q.packed.device().is_cpu()) {
    return dequantize_rows_cpu(unpack_int4(q.packed, q.symmetric, "q.packed"), q.scale, q.zero).to(dtype);
  }
#ifdef FLATQUANT_HAVE_CUDA
  if (q.packed.device().is_cuda()) {
    FQ_CHECK(q.cols % 8 == 0, op, ": the CUDA kernel needs a row length that is a multiple of 8, got ", q.cols);
    const c10::cuda::CUDAGuard guard(q.packed.device());
    const bool bf16 = dtype == at::kBFloat16;
    const at::Tensor packed = q.packed.contiguous();
    const at::Tensor scale = q.scale.contiguous();
    const at::Tensor zero = q.symmetric ? at::Tensor() : q.zero.contiguous();
    at::Tensor out = at::empty({q.rows(), q.cols}, q.packed.options().dtype(bf16 ? at::kBFloat16 : at::kFloat));
    gpu::launch_dequantize_rows_int4(packed.data_ptr<uint8_t>(), scale.data_ptr<float>(),
                                     q.symmetric ? nullptr : zero.data_ptr<float>(), q.rows(), q.cols,
                                     bf16 ? gpu::RowDType::kBFloat16 : gpu::RowDType::kFloat32, out.data_ptr(),
                                     c10::cuda::getCurrentCUDAStream().stream());
    return out.to(dtype);
  }
#endif
  throw Error(fq::str(op, ": no kernel for tensor 'q.packed' on device ", q.packed.device(), " in this build"));
}

TokenQuantConfig kv_cache_quant_config() {
  TokenQuantConfig cfg;
  cfg.bits = 4;
  cfg.symmetric = false;
  return cfg;
}

PackedInt4Rows kv_cache_quantize(const at::Tensor& kv, const TokenQuantConfig& cfg) {
  FQ_CHECK(kv.defined() && kv.dim() >= 2, "kv_cache_quantize: tensor 'kv' must be [..., heads, head_dim], got ",
           kv.defined() ? kv.sizes() : at::IntArrayRef{});
  return quantize_rows_any(as_rows(kv, "kv_cache_quantize"), cfg, "kv_cache_quantize");
}

at::Tensor kv_cache_dequantize(const PackedInt4Rows& q, at::IntArrayRef shape, at::ScalarType dtype) {
  FQ_CHECK(shape.size() >= 2 && shape.back() == q.cols, "kv_cache_dequantize: shape ", shape,
           " does not end in the head_dim ", q.cols, " of the packed rows");
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
  FQ_CHECK(rows == q.rows(), "kv_cache_dequantize: shape ", shape, " has ", rows, " (token, head) groups, the ",
           "packed rows hold ", q.rows());
  return dequantize_rows_int4(q, dtype).reshape(shape);
}

}  // namespace fq::kernels
