#include "kernels/weight_clip_quant_ops.h"

#include <ATen/ATen.h>

#include "kernels/shape_checks.h"
#include "lib/core/error.h"

#ifdef FLATQUANT_HAVE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "kernels/cuda/weight_clip_quant.cuh"
#endif

namespace fq::kernels {
namespace {

#ifdef FLATQUANT_HAVE_CUDA
// The kernels' operands: contiguous, factors as float32 on w's device.
struct CudaOperands {
  at::Tensor w, clip_max, clip_min;
  gpu::RowDType dtype;
};

CudaOperands cuda_operands(const at::Tensor& w, const at::Tensor& clip_max, const at::Tensor& clip_min,
                           const WeightQuantRule& rule, const char* op) {
  check_weight_quant_rule(rule, op);
  check_rank(w, 2, op, "w");
  FQ_CHECK(weight_clip_fake_quant_cuda_supported(w), op, ": the CUDA kernels take float32 or bfloat16 rows of a ",
           "multiple of 8 elements; tensor 'w' is ", w.scalar_type(), " ", w.sizes());
  FQ_CHECK(clip_max.defined() == clip_min.defined(), op, ": clip_max and clip_min must both be given or neither");
  CudaOperands o{w.contiguous(), at::Tensor(), at::Tensor(),
                 w.scalar_type() == at::kBFloat16 ? gpu::RowDType::kBFloat16 : gpu::RowDType::kFloat32};
  if (clip_max.defined()) {
    check_shape(clip_max, {w.size(0)}, clip_max.scalar_type(), op, "clip_max");
    check_shape(clip_min, {w.size(0)}, clip_min.scalar_type(), op, "clip_min");
    check_same_device(clip_max, w, op, "clip_max", "w");
    check_same_device(clip_min, w, op, "clip_min", "w");
    o.clip_max = clip_max.to(at::kFloat).contiguous();
    o.clip_min = clip_min.to(at::kFloat).contiguous();
  }
  return o;
}

const float* data_or_null(const at::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }
#endif

}  // namespace

bool weight_clip_fake_quant_cuda_supported(const at::Tensor& w) {
  return w.dim() == 2 && (w.scalar_type() == at::kFloat || w.scalar_type() == at::kBFloat16) && w.size(1) > 0 &&
         w.size(1) % 8 == 0;
}

at::Tensor weight_clip_fake_quant(const at::Tensor& w, const at::Tensor& clip_max, const at::Tensor& clip_min,
                                  const WeightQuantRule& rule) {
  const char* op = "weight_clip_fake_quant";
  FQ_CHECK(w.defined(), op, ": tensor 'w' is undefined");
  if (w.device().is_cpu()) return weight_clip_fake_quant_cpu(w, clip_max, clip_min, rule);
#ifdef FLATQUANT_HAVE_CUDA
  if (w.device().is_cuda()) {
    const CudaOperands o = cuda_operands(w, clip_max, clip_min, rule, op);
    const c10::cuda::CUDAGuard guard(w.device());
    at::Tensor out = at::empty_like(o.w);
    gpu::launch_weight_clip_fake_quant(o.w.data_ptr(), o.dtype, o.w.size(0), o.w.size(1), data_or_null(o.clip_max),
                                       data_or_null(o.clip_min), rule, out.data_ptr(),
                                       c10::cuda::getCurrentCUDAStream().stream());
    return out;
  }
#endif
  throw Error(fq::str(op, ": no kernel for tensor 'w' on device ", w.device(), " in this build"));
}

WeightClipQuantGrads weight_clip_fake_quant_backward(const at::Tensor& grad_out, const at::Tensor& w,
                                                     const at::Tensor& clip_max, const at::Tensor& clip_min,
                                                     const WeightQuantRule& rule) {
  const char* op = "weight_clip_fake_quant_backward";
  FQ_CHECK(w.defined() && grad_out.defined(), op, ": tensors 'w' and 'grad_out' must be defined");
  if (w.device().is_cpu()) return weight_clip_fake_quant_backward_cpu(grad_out, w, clip_max, clip_min, rule);
#ifdef FLATQUANT_HAVE_CUDA
  if (w.device().is_cuda()) {
    const CudaOperands o = cuda_operands(w, clip_max, clip_min, rule, op);
    FQ_CHECK(grad_out.sizes() == w.sizes(), op, ": tensor 'grad_out' has shape ", grad_out.sizes(), ", expected ",
             w.sizes());
    check_same_device(grad_out, w, op, "grad_out", "w");
    const at::Tensor g = grad_out.to(w.scalar_type()).contiguous();
    const c10::cuda::CUDAGuard guard(w.device());
    WeightClipQuantGrads out{at::empty_like(o.w), at::Tensor(), at::Tensor()};
    if (o.clip_max.defined()) {
      out.clip_max = at::empty_like(o.clip_max);
      out.clip_min = at::empty_like(o.clip_min);
    }
    gpu::launch_weight_clip_fake_quant_backward(
        g.data_ptr(), o.w.data_ptr(), o.dtype, o.w.size(0), o.w.size(1), data_or_null(o.clip_max),
        data_or_null(o.clip_min), rule, out.w.data_ptr(), out.clip_max.defined() ? out.clip_max.data_ptr<float>() : nullptr,
        out.clip_min.defined() ? out.clip_min.data_ptr<float>() : nullptr, c10::cuda::getCurrentCUDAStream().stream());
    if (clip_max.defined()) {
      out.clip_max = out.clip_max.to(clip_max.scalar_type());
      out.clip_min = out.clip_min.to(clip_min.scalar_type());
    }
    return out;
  }
#endif
  throw Error(fq::str(op, ": no kernel for tensor 'w' on device ", w.device(), " in this build"));
}

}  // namespace fq::kernels
