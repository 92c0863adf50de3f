#include "kernels/w4a4_operands.h"

#include "kernels/shape_checks.h"
#include "lib/core/error.h"

namespace fq::kernels {

void check_packed_rows(const PackedInt4Rows& a, const char* op, const char* name) {
  const std::string base(name);
  check_rank(a.packed, 2, op, (base + ".packed").c_str());
  const int64_t rows = a.packed.size(0);
  FQ_CHECK(a.cols % 2 == 0 && a.packed.size(1) * 2 == a.cols, op, ": tensor '", name, ".packed' has ",
           a.packed.size(1), " bytes per row for ", a.cols, " columns (expected cols / 2)");
  check_shape(a.packed, {rows, a.cols / 2}, at::kByte, op, (base + ".packed").c_str());
  check_shape(a.scale, {rows}, at::kFloat, op, (base + ".scale").c_str());
  check_same_device(a.scale, a.packed, op, (base + ".scale").c_str(), (base + ".packed").c_str());
  if (a.symmetric) {
    FQ_CHECK(!a.zero.defined(), op, ": tensor '", name, ".zero' is set but the rows are symmetric");
  } else {
    check_shape(a.zero, {rows}, at::kFloat, op, (base + ".zero").c_str());
    check_same_device(a.zero, a.packed, op, (base + ".zero").c_str(), (base + ".packed").c_str());
  }
}

W4A4Shape check_w4a4_operands(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& bias,
                              const at::Tensor& expert_offsets, const char* op) {
  check_packed_rows(a, op, "a");
  check_int4_weight(w, op);
  check_same_device(w.packed, a.packed, op, "weight.packed", "a.packed");
  W4A4Shape s;
  s.m = a.rows();
  s.k = a.cols;
  s.n = w.out_features();
  s.experts = w.experts();
  FQ_CHECK(w.in_features == s.k, op, ": activations have K = ", s.k, " columns but the weight has in_features ",
           w.in_features);
  if (w.stacked()) {
    check_shape(expert_offsets, {s.experts + 1}, at::kLong, op, "expert_offsets");
    check_same_device(expert_offsets, a.packed, op, "expert_offsets", "a.packed");
  } else {
    FQ_CHECK(!expert_offsets.defined(), op, ": tensor 'expert_offsets' is given but the weight is not stacked ",
             "[E, N, K/2]");
  }
  if (bias.defined()) {
    check_rank(bias, 1, op, "bias");
    FQ_CHECK(bias.size(0) == s.n && (bias.scalar_type() == at::kFloat || bias.scalar_type() == at::kBFloat16), op,
             ": tensor 'bias' has shape ", bias.sizes(), " and dtype ", bias.scalar_type(), ", expected [", s.n,
             "] float32 or bfloat16");
    check_same_device(bias, a.packed, op, "bias", "a.packed");
  }
  return s;
}

}  // namespace fq::kernels
