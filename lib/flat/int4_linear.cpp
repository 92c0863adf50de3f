#include "lib/flat/int4_linear.h"

#include <ATen/ATen.h>

#include "kernels/quant_ops.h"
#include "kernels/w4a4_gemm_ops.h"
#include "lib/core/error.h"

namespace fq::flat {
namespace {

// Largest K of the CUDA GEMM (kernels/w4a4_gemm_ops.h).
constexpr int64_t kCudaMaxInFeatures = 65536;

bool is_identity(const kernels::KronTransform& t) { return !t.left.defined() && !t.right.defined(); }

// x [rows, K] -> its int4 rows, through the transform when there is one.
kernels::PackedInt4Rows quantize_input(const at::Tensor& x, const kernels::KronTransform& t,
                                       const kernels::TokenQuantConfig& act, kernels::TransformPrecision precision) {
  if (is_identity(t)) return kernels::quantize_rows_int4(x, act);
  return kernels::kron_transform_quantize(x, t, act, precision);
}

kernels::PackedInt4Rows concat_rows(const std::vector<kernels::PackedInt4Rows>& parts) {
  std::vector<at::Tensor> packed, scale, zero;
  for (const kernels::PackedInt4Rows& p : parts) {
    packed.push_back(p.packed);
    scale.push_back(p.scale);
    if (!p.symmetric) zero.push_back(p.zero);
  }
  kernels::PackedInt4Rows out;
  out.packed = at::cat(packed);
  out.scale = at::cat(scale);
  if (!zero.empty()) out.zero = at::cat(zero);
  out.cols = parts.front().cols;
  out.symmetric = parts.front().symmetric;
  return out;
}

}  // namespace

std::string int4_quantizer_unsupported_reason(const quant::QuantSpec& weight, const quant::QuantSpec& act) {
  if (weight.bits != 4) return str("weight bits ", weight.bits, " (the packed kernels hold 4-bit weights)");
  if (!weight.symmetric) return "asymmetric weights (the packed kernels take symmetric weight codes)";
  if (weight.group_size != 0) return str("weight group size ", weight.group_size, " (per-channel scales only)");
  if (act.bits != 4) return str("activation bits ", act.bits, " (the packed kernels take 4-bit activations)");
  if (act.group_size != 0) return str("activation group size ", act.group_size, " (per-token scales only)");
  return {};
}

std::string int4_unsupported_reason(const quant::QuantSpec& weight, const quant::QuantSpec& act, int64_t in_features,
                                    int64_t out_features, c10::Device device) {
  if (std::string why = int4_quantizer_unsupported_reason(weight, act); !why.empty()) return why;
  if (in_features % 2 != 0) return str("in_features ", in_features, " is odd (two codes per byte)");
  if (device.is_cuda()) {
    if (in_features % 32 != 0) return str("in_features ", in_features, " is not a multiple of 32 (CUDA GEMM)");
    if (in_features > kCudaMaxInFeatures) return str("in_features ", in_features, " exceeds the CUDA GEMM's 65536");
    if (out_features % 8 != 0) return str("out_features ", out_features, " is not a multiple of 8 (CUDA GEMM)");
  }
  return {};
}

kernels::Int4Weight pack_weight_int4(const at::Tensor& w64, const quant::QuantSpec& spec, bool mse) {
  FQ_CHECK(w64.dim() == 2, "pack_weight_int4: weight must be [out, in], got ", w64.sizes());
  const quant::QuantParams p = mse ? quant::weight_quant_params_mse(w64, spec) : quant::weight_quant_params(w64, spec);
  const at::Tensor codes = quant::quantize_codes(w64, p, spec);
  return kernels::make_int4_weight(codes, p.scale.reshape({-1}).to(at::kFloat));
}

kernels::Int4Weight stack_int4_weights(const std::vector<kernels::Int4Weight>& experts) {
  FQ_CHECK(!experts.empty(), "stack_int4_weights: no experts");
  std::vector<at::Tensor> packed, scale, rowsum;
  for (const kernels::Int4Weight& w : experts) {
    packed.push_back(w.packed);
    scale.push_back(w.scale);
    rowsum.push_back(w.rowsum);
  }
  kernels::Int4Weight out;
  out.packed = at::stack(packed);
  out.scale = at::stack(scale);
  out.rowsum = at::stack(rowsum);
  out.in_features = experts.front().in_features;
  kernels::check_int4_weight(out, "stack_int4_weights");
  return out;
}

int64_t int4_weight_bytes(const kernels::Int4Weight& w) {
  return w.packed.nbytes() + w.scale.nbytes() + w.rowsum.nbytes();
}

kernels::TokenQuantConfig token_quant_config(const quant::QuantSpec& act, const quant::ClipFactors& clip) {
  kernels::TokenQuantConfig cfg;
  cfg.bits = act.bits;
  cfg.symmetric = act.symmetric;
  if (clip.max.defined()) cfg.clip_max = clip.max.to(at::kFloat).item<float>();
  if (clip.min.defined()) cfg.clip_min = clip.min.to(at::kFloat).item<float>();
  return cfg;
}

kernels::KronTransform kron_transform_of(const quant::TransformMatrices& online) {
  kernels::KronTransform t;
  if (online.left.defined()) t.left = online.left.to(at::kFloat).contiguous();
  t.right = online.right.to(at::kFloat).contiguous();
  return t;
}

void Int4Linear::bind_input(kernels::KronTransform transform, kernels::TokenQuantConfig act) {
  kernels::check_token_quant_config(act, "Int4Linear");
  transform_ = std::move(transform);
  act_ = act;
}

at::Tensor Int4Linear::operator()(const at::Tensor& x) const {
  FQ_CHECK(x.size(-1) == weight_.in_features, "Int4Linear: input has ", x.size(-1), " features, the weight ",
           weight_.in_features);
  const at::Tensor rows = x.reshape({-1, x.size(-1)});
  const at::Tensor y = kernels::w4a4_gemm(quantize_input(rows, transform_, act_, precision_), weight_);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = weight_.out_features();
  return y.to(x.scalar_type()).reshape(shape);
}

void Int4Experts::bind_input(std::vector<kernels::KronTransform> transforms,
                             std::vector<kernels::TokenQuantConfig> acts) {
  const size_t experts = static_cast<size_t>(weight_.experts());
  FQ_CHECK(transforms.size() <= 1 || transforms.size() == experts, "Int4Experts: ", transforms.size(),
           " input transforms for ", experts, " experts");
  FQ_CHECK(acts.size() == 1 || acts.size() == experts, "Int4Experts: ", acts.size(), " activation quantizers for ",
           experts, " experts");
  for (const kernels::TokenQuantConfig& a : acts) kernels::check_token_quant_config(a, "Int4Experts");
  transforms_ = std::move(transforms);
  acts_ = std::move(acts);
}

at::Tensor Int4Experts::operator()(const at::Tensor& x_sorted, const std::vector<int64_t>& counts) const {
  const int64_t experts = weight_.experts();
  FQ_CHECK(static_cast<int64_t>(counts.size()) == experts, "Int4Experts: ", counts.size(), " expert counts for ",
           experts, " experts");
  FQ_CHECK(x_sorted.dim() == 2 && x_sorted.size(1) == weight_.in_features, "Int4Experts: input ", x_sorted.sizes(),
           " does not match in_features ", weight_.in_features);
  const at::Tensor counts_t = at::tensor(counts, at::kLong);
  FQ_CHECK(counts_t.sum().item<int64_t>() == x_sorted.size(0), "Int4Experts: counts sum to ",
           counts_t.sum().item<int64_t>(), ", the input has ", x_sorted.size(0), " rows");
  if (x_sorted.size(0) == 0) return x_sorted.new_zeros({0, weight_.out_features()});
  const kernels::KronTransform identity;
  kernels::PackedInt4Rows a;
  if (transforms_.size() <= 1 && acts_.size() == 1) {
    a = quantize_input(x_sorted, transforms_.empty() ? identity : transforms_.front(), acts_.front(), precision_);
  } else {
    // Per-expert transforms or clip factors: quantize each expert's rows with its own.
    std::vector<kernels::PackedInt4Rows> parts;
    int64_t begin = 0;
    for (int64_t e = 0; e < experts; ++e) {
      const int64_t rows = counts[e];
      if (rows == 0) continue;
      const kernels::KronTransform& t = transforms_.empty() ? identity : transforms_[transforms_.size() == 1 ? 0 : e];
      const kernels::TokenQuantConfig& act = acts_[acts_.size() == 1 ? 0 : e];
      parts.push_back(quantize_input(x_sorted.narrow(0, begin, rows), t, act, precision_));
      begin += rows;
    }
    a = concat_rows(parts);
  }
  at::Tensor offsets = at::zeros({experts + 1}, at::kLong);
  offsets.narrow(0, 1, experts).copy_(counts_t.cumsum(0));
  return kernels::w4a4_gemm(a, weight_, at::Tensor(), offsets.to(x_sorted.device())).to(x_sorted.scalar_type());
}

}  // namespace fq::flat
