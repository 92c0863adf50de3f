// The ranks that share one MoE layer in expert-parallel calibration, as FlatLayer sees them: which routed
// experts this rank holds and how to sum a tensor over the group. lib knows no MPI: the pipeline supplies
// the sum (cluster/group_comm.h). Every member runs the same layer forward on the same samples; only the
// routed experts are split, their shares summed (docs/ARCHITECTURE.md, "Expert parallelism").
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>

namespace fq::flat {

struct ExpertGroup {
  int member = 0;   // this rank's place in the group
  int members = 1;  // ranks in the group; 1: no expert parallelism
  std::vector<int64_t> experts;  // global ids of the routed experts this member holds, ascending
  // In place, over the group's ranks: a collective, every member calls it in the same order.
  std::function<void(at::Tensor&)> allreduce_sum;

  bool active() const { return members > 1; }
};

// Sums every tensor over the group in ONE collective (flattened into a float32 buffer; undefined entries
// count as zeros of `shapes_like[i]` and come back defined).
void allreduce_sum_together(const ExpertGroup& group, std::vector<at::Tensor>& tensors,
                            const std::vector<at::Tensor>& shapes_like);
// held_rows [experts.size(), ...] of this member -> [total, ...] on every member (the rows of every expert,
// from the member that holds it).
at::Tensor gather_expert_rows(const ExpertGroup& group, const at::Tensor& held_rows, int64_t total);
// Every member's `t` (same shape everywhere) stacked [members, ...] on every member.
at::Tensor gather_members(const ExpertGroup& group, const at::Tensor& t);

}  // namespace fq::flat
