#include "lib/flat/site_groups.h"

namespace fq::flat {

using model::LinearGroup;
using model::LinearSite;

std::optional<LinearGroup> group_of(LinearSite site, bool llama) {
  switch (site) {
    case LinearSite::kQ:
    case LinearSite::kK:
    case LinearSite::kV:
    case LinearSite::kQA:
    case LinearSite::kKVA: return LinearGroup::kAttnIn;
    case LinearSite::kQB: return LinearGroup::kQbIn;
    case LinearSite::kO: return llama ? std::nullopt : std::optional<LinearGroup>(LinearGroup::kOIn);
    case LinearSite::kKVB: return std::nullopt;
    case LinearSite::kGate:
    case LinearSite::kUp: return LinearGroup::kMlpIn;
    case LinearSite::kDown: return LinearGroup::kDownIn;
    case LinearSite::kSharedGate:
    case LinearSite::kSharedUp: return LinearGroup::kMoeIn;
    case LinearSite::kSharedDown: return LinearGroup::kSharedDownIn;
  }
  return std::nullopt;
}

std::string group_name(LinearGroup group) {
  switch (group) {
    case LinearGroup::kAttnIn: return "attn_in";
    case LinearGroup::kQbIn: return "qb_in";
    case LinearGroup::kOIn: return "o_in";
    case LinearGroup::kMlpIn: return "mlp_in";
    case LinearGroup::kDownIn: return "down_in";
    case LinearGroup::kMoeIn: return "moe_in";
    case LinearGroup::kSharedDownIn: return "shared_down_in";
  }
  return "?";
}

std::string site_name(LinearSite site) {
  switch (site) {
    case LinearSite::kQ: return "q_proj";
    case LinearSite::kK: return "k_proj";
    case LinearSite::kV: return "v_proj";
    case LinearSite::kO: return "o_proj";
    case LinearSite::kQA: return "q_a_proj";
    case LinearSite::kQB: return "q_b_proj";
    case LinearSite::kKVA: return "kv_a_proj";
    case LinearSite::kKVB: return "kv_b_proj";
    case LinearSite::kGate: return "gate_proj";
    case LinearSite::kUp: return "up_proj";
    case LinearSite::kDown: return "down_proj";
    case LinearSite::kSharedGate: return "shared_experts.gate_proj";
    case LinearSite::kSharedUp: return "shared_experts.up_proj";
    case LinearSite::kSharedDown: return "shared_experts.down_proj";
  }
  return "?";
}

std::string expert_site_name(model::ExpertSite site) {
  switch (site) {
    case model::ExpertSite::kGate: return "experts.gate_proj";
    case model::ExpertSite::kUp: return "experts.up_proj";
    case model::ExpertSite::kDown: return "experts.down_proj";
  }
  return "?";
}

}  // namespace fq::flat
