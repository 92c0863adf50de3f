#include "lib/flat/expert_group.h"

#include <ATen/ATen.h>

#include "lib/core/error.h"

namespace fq::flat {

void allreduce_sum_together(const ExpertGroup& group, std::vector<at::Tensor>& tensors,
                            const std::vector<at::Tensor>& shapes_like) {
  FQ_ASSERT(tensors.size() == shapes_like.size() && group.allreduce_sum, "allreduce_sum_together: bad arguments");
  if (tensors.empty()) return;
  std::vector<at::Tensor> flat;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    flat.push_back(t.defined() ? t.reshape({-1}).to(at::kFloat) : at::zeros({shapes_like[i].numel()},
                                                                            shapes_like[i].options().dtype(at::kFloat)));
  }
  at::Tensor buffer = at::cat(flat);
  group.allreduce_sum(buffer);
  int64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& like = shapes_like[i];
    const at::Tensor part = buffer.narrow(0, offset, like.numel()).view(like.sizes());
    // A copy, never a view of the buffer: the results become gradients, which must own their storage.
    tensors[i] = part.to(tensors[i].defined() ? tensors[i].scalar_type() : like.scalar_type(), /*non_blocking=*/false,
                         /*copy=*/true);
    offset += like.numel();
  }
}

at::Tensor gather_expert_rows(const ExpertGroup& group, const at::Tensor& held_rows, int64_t total) {
  FQ_CHECK(held_rows.dim() >= 1 && held_rows.size(0) == static_cast<int64_t>(group.experts.size()),
           "gather_expert_rows: ", held_rows.sizes(), " rows for ", group.experts.size(), " held experts");
  std::vector<int64_t> shape = held_rows.sizes().vec();
  shape[0] = total;
  // Float64 sums of one non-zero term and zeros: every value arrives exactly.
  at::Tensor all = at::zeros(shape, held_rows.options().dtype(at::kDouble));
  const at::Tensor ids = at::tensor(group.experts, at::kLong).to(held_rows.device());
  all.index_copy_(0, ids, held_rows.detach().to(at::kDouble));
  group.allreduce_sum(all);
  return all.to(held_rows.scalar_type());
}

at::Tensor gather_members(const ExpertGroup& group, const at::Tensor& t) {
  std::vector<int64_t> shape = t.sizes().vec();
  shape.insert(shape.begin(), group.members);
  at::Tensor all = at::zeros(shape, t.options().dtype(at::kDouble));
  all.select(0, group.member).copy_(t.detach().to(at::kDouble));
  group.allreduce_sum(all);
  return all.to(t.scalar_type());
}

}  // namespace fq::flat
