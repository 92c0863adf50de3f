#include "lib/flat/expert_group_autograd.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>

namespace fq::flat {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The group travels to backward as an address: IValues cannot hold it, and it outlives the graph.
int64_t address_of(const ExpertGroup& group) { return static_cast<int64_t>(reinterpret_cast<intptr_t>(&group)); }
const ExpertGroup& group_at(AutogradContext* ctx) {
  return *reinterpret_cast<const ExpertGroup*>(static_cast<intptr_t>(ctx->saved_data["group"].toInt()));
}

struct GroupEntry : public torch::autograd::Function<GroupEntry> {
  static variable_list forward(AutogradContext* ctx, at::TensorList inputs, int64_t group) {
    ctx->saved_data["group"] = group;
    std::vector<at::Tensor> like;
    variable_list out;
    for (const at::Tensor& t : inputs) {
      like.push_back(t.detach());  // shape, dtype and device of a gradient that may come back undefined
      out.push_back(t.clone());
    }
    ctx->saved_data["like"] = like;
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    std::vector<at::Tensor> like;
    for (const auto& v : ctx->saved_data["like"].toTensorList()) like.push_back(v);
    allreduce_sum_together(group_at(ctx), grads, like);
    grads.emplace_back();  // the group address
    return grads;
  }
};

struct GroupCombine : public torch::autograd::Function<GroupCombine> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& share, at::TensorList tied, int64_t group) {
    ctx->saved_data["tied"] = static_cast<int64_t>(tied.size());
    std::vector<at::Tensor> like;
    for (const at::Tensor& t : tied) like.push_back(t.detach());
    ctx->saved_data["like"] = like;
    at::Tensor sum = share.clone();
    reinterpret_cast<const ExpertGroup*>(static_cast<intptr_t>(group))->allreduce_sum(sum);
    return sum;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    variable_list out{grads[0]};
    for (const auto& v : ctx->saved_data["like"].toTensorList()) {
      const at::Tensor like = v;
      out.push_back(at::zeros(like.sizes(), like.options()));
    }
    out.emplace_back();  // the group address
    return out;
  }
};

}  // namespace

std::vector<at::Tensor> group_entry(const ExpertGroup& group, const std::vector<at::Tensor>& inputs) {
  return GroupEntry::apply(at::TensorList(inputs), address_of(group));
}

at::Tensor group_combine(const ExpertGroup& group, const at::Tensor& share, const std::vector<at::Tensor>& tied) {
  return GroupCombine::apply(share, at::TensorList(tied), address_of(group));
}

}  // namespace fq::flat
