#include "kernels/w4a4_gemm_ops.h"

#include <ATen/ATen.h>

#include "kernels/cpu/w4a4_gemm_cpu.h"
#include "kernels/w4a4_operands.h"
#include "lib/core/error.h"

#ifdef FLATQUANT_HAVE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/cuda/w4a4_gemm.cuh"
#endif

namespace fq::kernels {
namespace {

#ifdef FLATQUANT_HAVE_CUDA
gpu::W4A4GemmKernel to_gpu(W4A4Kernel k) {
  switch (k) {
    case W4A4Kernel::kMmaSync: return gpu::W4A4GemmKernel::kMmaSync;
    case W4A4Kernel::kWgmma: return gpu::W4A4GemmKernel::kWgmma;
    case W4A4Kernel::kAuto: break;
  }
  return gpu::W4A4GemmKernel::kAuto;
}

// Runs the kernel into `out` (bf16) or `accumulators` (int32), whichever is defined.
void run_cuda(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& bias, const at::Tensor& expert_offsets,
              const W4A4Shape& s, W4A4Kernel kernel, const at::Tensor& out, const at::Tensor& accumulators) {
  const c10::cuda::CUDAGuard guard(a.packed.device());
  const at::Tensor a_packed = a.packed.contiguous();
  const at::Tensor a_scale = a.scale.contiguous();
  const at::Tensor a_zero = a.symmetric ? at::Tensor() : a.zero.contiguous();
  const at::Tensor bias_f = bias.defined() ? bias.to(at::kFloat).contiguous() : at::Tensor();
  const at::Tensor offsets = expert_offsets.defined() ? expert_offsets.contiguous() : at::Tensor();
  gpu::W4A4GemmArgs args;
  args.a = a_packed.data_ptr<uint8_t>();
  args.a_scale = a_scale.data_ptr<float>();
  args.a_zero = a.symmetric ? nullptr : a_zero.data_ptr<float>();
  args.b = w.packed.data_ptr<uint8_t>();
  args.b_scale = w.scale.data_ptr<float>();
  args.b_rowsum = w.rowsum.data_ptr<int32_t>();
  args.bias = bias_f.defined() ? bias_f.data_ptr<float>() : nullptr;
  args.expert_offsets = offsets.defined() ? offsets.data_ptr<int64_t>() : nullptr;
  args.m = s.m;
  args.n = s.n;
  args.k = s.k;
  args.experts = s.experts;
  args.out = out.defined() ? reinterpret_cast<__nv_bfloat16*>(out.data_ptr()) : nullptr;
  args.out_accumulators = accumulators.defined() ? accumulators.data_ptr<int32_t>() : nullptr;
  gpu::launch_w4a4_gemm(args, to_gpu(kernel), c10::cuda::getCurrentCUDAStream().stream());
}
#endif

}  // namespace

at::Tensor w4a4_gemm(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& bias,
                     const at::Tensor& expert_offsets, W4A4Kernel kernel) {
  [[maybe_unused]] const W4A4Shape s = check_w4a4_operands(a, w, bias, expert_offsets, "w4a4_gemm");
  if (a.packed.device().is_cpu()) return w4a4_gemm_cpu(a, w, bias, expert_offsets);
#ifdef FLATQUANT_HAVE_CUDA
  if (a.packed.device().is_cuda()) {
    at::Tensor out = at::empty({s.m, s.n}, a.packed.options().dtype(at::kBFloat16));
    run_cuda(a, w, bias, expert_offsets, s, kernel, out, at::Tensor());
    return out;
  }
#endif
  throw Error(fq::str("w4a4_gemm: no kernel for tensor 'a.packed' on device ", a.packed.device(), " in this build"));
}

at::Tensor w4a4_accumulators(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& expert_offsets,
                             W4A4Kernel kernel) {
  [[maybe_unused]] const W4A4Shape s = check_w4a4_operands(a, w, at::Tensor(), expert_offsets, "w4a4_accumulators");
  if (a.packed.device().is_cpu()) return w4a4_accumulators_cpu(a, w, expert_offsets);
#ifdef FLATQUANT_HAVE_CUDA
  if (a.packed.device().is_cuda()) {
    at::Tensor acc = at::empty({s.m, s.n}, a.packed.options().dtype(at::kInt));
    run_cuda(a, w, at::Tensor(), expert_offsets, s, kernel, at::Tensor(), acc);
    return acc.to(at::kLong);
  }
#endif
  throw Error(fq::str("w4a4_accumulators: no kernel for tensor 'a.packed' on device ", a.packed.device(),
                  " in this build"));
}

}  // namespace fq::kernels
