// Which group transform feeds which linear (ALGORITHM.md "Where transforms sit"), and stable names for
// groups and sites in artifacts and logs.
#pragma once

#include <optional>
#include <string>

#include "lib/model/layer_hooks.h"

namespace fq::flat {

// The group whose transform precedes `site`; nullopt for kKVB (high precision) and LLaMA's kO, whose
// input transform is the per-head pair (o_heads (x) v_head) rather than a group transform.
std::optional<model::LinearGroup> group_of(model::LinearSite site, bool llama);

std::string group_name(model::LinearGroup group);  // "attn_in", "qb_in", ...
std::string site_name(model::LinearSite site);     // "q_proj", "kv_a_proj", ...
std::string expert_site_name(model::ExpertSite site);  // "experts.gate_proj", ...

}  // namespace fq::flat
