#include "kernels/cpu/w4a4_gemm_cpu.h"

#include <ATen/ATen.h>

#include "kernels/int4_pack.h"
#include "kernels/w4a4_operands.h"
#include "lib/core/error.h"

namespace fq::kernels {
namespace {

// Expert index of every row, int64 [M], after checking the offsets' values.
at::Tensor expert_of_rows(const at::Tensor& offsets_any, int64_t rows, const char* op) {
  const at::Tensor offsets = offsets_any.cpu().contiguous();
  const int64_t* o = offsets.data_ptr<int64_t>();
  const int64_t experts = offsets.numel() - 1;
  FQ_CHECK(o[0] == 0 && o[experts] == rows, op, ": tensor 'expert_offsets' must start at 0 and end at the ", rows,
           " rows of 'a', got ", o[0], " .. ", o[experts]);
  at::Tensor ids = at::empty({rows}, at::TensorOptions().dtype(at::kLong));
  int64_t* id = ids.data_ptr<int64_t>();
  for (int64_t e = 0; e < experts; ++e) {
    FQ_CHECK(o[e + 1] >= o[e], op, ": tensor 'expert_offsets' decreases at expert ", e, " (", o[e], " > ", o[e + 1],
             ")");
    for (int64_t r = o[e]; r < o[e + 1]; ++r) id[r] = e;
  }
  return ids;
}

}  // namespace

at::Tensor w4a4_accumulators_cpu(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& expert_offsets) {
  const W4A4Shape s = check_w4a4_operands(a, w, at::Tensor(), expert_offsets, "w4a4_accumulators_cpu");
  // Codes are at most 15 and 8 in magnitude: every partial sum is an integer far below 2^53, so a float64
  // product is exact whatever order the BLAS sums in.
  at::Tensor qa = unpack_int4(a.packed.cpu(), a.symmetric, "a.packed").to(at::kDouble);
  if (!a.symmetric) qa = qa - a.zero.cpu().to(at::kDouble).unsqueeze(1);
  const at::Tensor qb = unpack_int4(w.packed.cpu(), /*symmetric=*/true, "weight.packed").to(at::kDouble);
  if (!w.stacked()) return at::matmul(qa, qb.t()).to(at::kLong);
  const at::Tensor ids = expert_of_rows(expert_offsets, s.m, "w4a4_accumulators_cpu");
  // Per-row weight gather: [M, N, K] would be large, so multiply expert by expert.
  at::Tensor acc = at::zeros({s.m, s.n}, at::TensorOptions().dtype(at::kDouble));
  const at::Tensor offsets = expert_offsets.cpu();
  for (int64_t e = 0; e < s.experts; ++e) {
    const int64_t begin = offsets[e].item<int64_t>();
    const int64_t end = offsets[e + 1].item<int64_t>();
    if (end > begin) acc.slice(0, begin, end).copy_(at::matmul(qa.slice(0, begin, end), qb[e].t()));
  }
  return acc.to(at::kLong);
}

at::Tensor w4a4_gemm_cpu(const PackedInt4Rows& a, const Int4Weight& w, const at::Tensor& bias,
                         const at::Tensor& expert_offsets) {
  const W4A4Shape s = check_w4a4_operands(a, w, bias, expert_offsets, "w4a4_gemm_cpu");
  const at::Tensor acc = w4a4_accumulators_cpu(a, w, expert_offsets).to(at::kFloat);
  at::Tensor sb = w.scale.cpu();
  if (w.stacked()) {
    sb = sb.index_select(0, expert_of_rows(expert_offsets, s.m, "w4a4_gemm_cpu"));  // [M, N]
  } else {
    sb = sb.unsqueeze(0);
  }
  at::Tensor y = acc * a.scale.cpu().unsqueeze(1) * sb;  // (acc * sa) * sb, as the kernels do
  if (bias.defined()) y = y + bias.cpu().to(at::kFloat);
  return y.to(at::kBFloat16);
}

}  // namespace fq::kernels
