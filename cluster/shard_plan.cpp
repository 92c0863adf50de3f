#include "cluster/shard_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include "cluster/linear_partition.h"
#include "lib/core/error.h"

namespace fq::cluster {
namespace {

constexpr int kPlanVersion = 1;

// Groups of G ranks, node by node (nodes in the order of their lowest rank), ranks ascending within a
// node: consecutive groups then share a node wherever possible, so most chain hand-offs stay on a node.
std::vector<RankGroup> form_groups(int world_size, int group_size, const std::vector<int>& node_of_rank) {
  std::vector<int> node_order;                  // nodes by lowest rank
  std::map<int, std::vector<int>> ranks_of_node;  // node -> ascending ranks
  for (int r = 0; r < world_size; ++r) {
    const int node = node_of_rank.empty() ? 0 : node_of_rank[r];
    FQ_CHECK(node >= 0, "shard plan: rank ", r, " has a negative node index ", node);
    if (!ranks_of_node.count(node)) node_order.push_back(node);
    ranks_of_node[node].push_back(r);
  }
  std::vector<RankGroup> groups;
  for (int node : node_order) {
    const std::vector<int>& ranks = ranks_of_node[node];
    FQ_CHECK(ranks.size() % group_size == 0, "shard plan: node ", node, " has ", ranks.size(),
             " ranks, not a multiple of expert_group_size ", group_size, " (an expert group never spans nodes)");
    for (std::size_t i = 0; i < ranks.size(); i += group_size) {
      RankGroup group;
      group.ranks.assign(ranks.begin() + i, ranks.begin() + i + group_size);
      groups.push_back(group);
    }
  }
  return groups;
}

double block_cost(const std::vector<double>& costs, int first, int end) {
  double sum = 0;
  for (int l = first; l < end; ++l) sum += costs[l];
  return sum;
}

void check_request(const ShardRequest& r) {
  FQ_CHECK(r.world_size >= 1, "shard plan: world_size must be >= 1, got ", r.world_size);
  FQ_CHECK(r.expert_group_size >= 1 && r.expert_group_size <= r.world_size, "shard plan: expert_group_size ",
           r.expert_group_size, " must be in [1, world_size ", r.world_size, "]");
  FQ_CHECK(r.num_experts >= 0, "shard plan: num_experts must be >= 0, got ", r.num_experts);
  FQ_CHECK(r.expert_group_size == 1 || r.num_experts >= r.expert_group_size, "shard plan: expert_group_size ",
           r.expert_group_size, " needs at least that many experts per MoE layer, got num_experts ", r.num_experts);
  FQ_CHECK(r.node_of_rank.empty() || static_cast<int>(r.node_of_rank.size()) == r.world_size, "shard plan: node_of_rank has ",
           r.node_of_rank.size(), " entries for ", r.world_size, " ranks");
  for (std::size_t l = 0; l < r.layer_costs.size(); ++l) {
    FQ_CHECK(std::isfinite(r.layer_costs[l]) && r.layer_costs[l] >= 0, "shard plan: layer ", l, " has cost ",
             r.layer_costs[l], "; costs must be finite and >= 0");
  }
}

// First expert of member m when E experts are cut into G contiguous ranges.
int range_start(int member, int experts, int group_size) {
  return static_cast<int>(static_cast<long long>(member) * experts / group_size);
}

std::string format_cost(double cost) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", cost);
  return buf;
}

std::string format_ranks(const std::vector<int>& ranks) {
  // Consecutive ranks print as a range: "8-15".
  if (ranks.size() > 1 && ranks.back() - ranks.front() == static_cast<int>(ranks.size()) - 1) {
    return str(ranks.front(), "-", ranks.back());
  }
  std::string out;
  for (std::size_t i = 0; i < ranks.size(); ++i) out += (i ? "," : "") + std::to_string(ranks[i]);
  return out;
}

}  // namespace

std::string expert_split_name(ExpertSplit split) {
  return split == ExpertSplit::kRoundRobin ? "round_robin" : "contiguous";
}

ExpertSplit parse_expert_split(const std::string& name, const std::string& where) {
  if (name == "round_robin") return ExpertSplit::kRoundRobin;
  if (name == "contiguous") return ExpertSplit::kContiguous;
  throw Error(str(where, ": expert split '", name, "' is not one of round_robin, contiguous"));
}

bool RankGroup::operator==(const RankGroup& o) const {
  return ranks == o.ranks && first_layer == o.first_layer && end_layer == o.end_layer && cost == o.cost;
}

bool ShardPlan::operator==(const ShardPlan& o) const {
  return layer_costs == o.layer_costs && world_size == o.world_size && expert_group_size == o.expert_group_size &&
         num_experts == o.num_experts && expert_split == o.expert_split && groups == o.groups;
}

ShardPlan make_shard_plan(const ShardRequest& request) {
  check_request(request);
  ShardPlan plan;
  plan.layer_costs = request.layer_costs;
  plan.world_size = request.world_size;
  plan.expert_group_size = request.expert_group_size;
  plan.num_experts = request.num_experts;
  plan.expert_split = request.expert_split;
  plan.groups = form_groups(request.world_size, request.expert_group_size, request.node_of_rank);
  const std::vector<int> bounds = linear_partition(request.layer_costs, static_cast<int>(plan.groups.size()));
  for (std::size_t g = 0; g < plan.groups.size(); ++g) {
    plan.groups[g].first_layer = bounds[g];
    plan.groups[g].end_layer = bounds[g + 1];
    plan.groups[g].cost = block_cost(request.layer_costs, bounds[g], bounds[g + 1]);
  }
  return plan;
}

int ShardPlan::group_of_rank(int rank) const {
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const auto& r = groups[g].ranks;
    if (std::find(r.begin(), r.end(), rank) != r.end()) return static_cast<int>(g);
  }
  throw Error(str("shard plan: rank ", rank, " is not in the plan for ", world_size, " ranks"));
}

int ShardPlan::group_of_layer(int layer) const {
  for (std::size_t g = 0; g < groups.size(); ++g) {
    if (layer >= groups[g].first_layer && layer < groups[g].end_layer) return static_cast<int>(g);
  }
  throw Error(str("shard plan: layer ", layer, " is not in the plan for ", num_layers(), " layers"));
}

int ShardPlan::owner_of_layer(int layer) const { return groups[group_of_layer(layer)].ranks.front(); }

std::vector<int> ShardPlan::layers_of_rank(int rank) const {
  const RankGroup& group = groups[group_of_rank(rank)];
  std::vector<int> layers(group.end_layer - group.first_layer);
  std::iota(layers.begin(), layers.end(), group.first_layer);
  return layers;
}

int ShardPlan::member_index(int rank) const {
  const auto& r = groups[group_of_rank(rank)].ranks;
  return static_cast<int>(std::find(r.begin(), r.end(), rank) - r.begin());
}

std::vector<int> ShardPlan::experts_of_rank(int rank) const {
  const int member = member_index(rank);
  const int g = expert_group_size;
  std::vector<int> experts;
  if (expert_split == ExpertSplit::kContiguous) {
    for (int e = range_start(member, num_experts, g); e < range_start(member + 1, num_experts, g); ++e) {
      experts.push_back(e);
    }
  } else {
    for (int e = member; e < num_experts; e += g) experts.push_back(e);
  }
  return experts;
}

int ShardPlan::rank_of_expert(int layer, int expert) const {
  FQ_CHECK(expert >= 0 && expert < num_experts, "shard plan: expert ", expert, " is not in [0, ", num_experts, ")");
  const RankGroup& group = groups[group_of_layer(layer)];
  const int g = expert_group_size;
  int member = expert % g;
  if (expert_split == ExpertSplit::kContiguous) {
    member = 0;
    while (range_start(member + 1, num_experts, g) <= expert) ++member;
  }
  return group.ranks[member];
}

double ShardPlan::max_group_cost() const {
  double m = 0;
  for (const RankGroup& group : groups) m = std::max(m, group.cost);
  return m;
}

Json ShardPlan::to_json() const {
  Json j;
  j["version"] = kPlanVersion;
  j["world_size"] = world_size;
  j["expert_group_size"] = expert_group_size;
  j["num_experts"] = num_experts;
  j["expert_split"] = expert_split_name(expert_split);
  j["layer_costs"] = layer_costs;
  j["groups"] = Json::array();
  for (const RankGroup& group : groups) {
    j["groups"].push_back({{"ranks", group.ranks}, {"layers", {group.first_layer, group.end_layer}}, {"cost", group.cost}});
  }
  return j;
}

ShardPlan ShardPlan::from_json(const Json& json, const std::string& where) {
  const int version = json_get<int>(json, "version", where);
  FQ_CHECK(version == kPlanVersion, where, ": shard plan version ", version, " is not supported (expected ",
           kPlanVersion, ")");
  ShardPlan plan;
  plan.world_size = json_get<int>(json, "world_size", where);
  plan.expert_group_size = json_get<int>(json, "expert_group_size", where);
  plan.num_experts = json_get<int>(json, "num_experts", where);
  plan.expert_split = parse_expert_split(json_get<std::string>(json, "expert_split", where), where + " expert_split");
  plan.layer_costs = json_get<std::vector<double>>(json, "layer_costs", where);
  ShardRequest request;  // reuse the request checks on the scalar fields
  request.layer_costs = plan.layer_costs;
  request.world_size = plan.world_size;
  request.expert_group_size = plan.expert_group_size;
  request.num_experts = plan.num_experts;
  try {
    check_request(request);
  } catch (const Error& e) {
    throw Error(str(where, ": ", e.what()));
  }
  const Json groups = json_get<Json>(json, "groups", where);
  FQ_CHECK(groups.is_array() && !groups.empty(), where, ": field 'groups' must be a non-empty array");
  std::vector<int> seen(plan.world_size, 0);
  int next_layer = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const std::string at = str(where, " groups[", g, "]");
    RankGroup group;
    group.ranks = json_get<std::vector<int>>(groups[g], "ranks", at);
    const auto layers = json_get<std::vector<int>>(groups[g], "layers", at);
    group.cost = json_get<double>(groups[g], "cost", at);
    FQ_CHECK(static_cast<int>(group.ranks.size()) == plan.expert_group_size, at, ": has ", group.ranks.size(),
             " ranks, expected expert_group_size ", plan.expert_group_size);
    FQ_CHECK(std::is_sorted(group.ranks.begin(), group.ranks.end()), at, ": ranks must be ascending");
    for (int r : group.ranks) {
      FQ_CHECK(r >= 0 && r < plan.world_size && seen[r]++ == 0, at, ": rank ", r,
               " is out of range or appears in more than one group");
    }
    FQ_CHECK(layers.size() == 2 && layers[0] == next_layer && layers[1] >= layers[0] && layers[1] <= plan.num_layers(),
             at, ": layers must be [first, end) continuing at layer ", next_layer, " within ", plan.num_layers(),
             " layers");
    group.first_layer = layers[0];
    group.end_layer = layers[1];
    next_layer = group.end_layer;
    const double expected = block_cost(plan.layer_costs, group.first_layer, group.end_layer);
    FQ_CHECK(std::fabs(group.cost - expected) <= 1e-9 * std::max(1.0, expected), at, ": cost ", group.cost,
             " does not match the layer costs (", expected, ")");
    plan.groups.push_back(group);
  }
  FQ_CHECK(next_layer == plan.num_layers(), where, ": groups cover layers [0, ", next_layer, ") of ", plan.num_layers());
  FQ_CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }), where, ": groups do not cover all ",
           plan.world_size, " ranks");
  return plan;
}

std::string ShardPlan::table() const {
  const double total = std::accumulate(layer_costs.begin(), layer_costs.end(), 0.0);
  const double mean = groups.empty() ? 0 : total / groups.size();
  const double worst = max_group_cost();
  std::string out = str("shard plan: ", num_layers(), " layers on ", world_size, " ranks in ", groups.size(),
                        " groups of ", expert_group_size, "; max group cost ", format_cost(worst), ", mean ",
                        format_cost(mean), ", balance ", format_cost(worst > 0 ? 100.0 * mean / worst : 100.0), "%\n");
  if (num_experts > 0) {
    out += str("experts: ", num_experts, " per MoE layer, ", expert_split_name(expert_split), " over the ",
               expert_group_size, " ranks of each group\n");
  }
  char line[160];
  std::snprintf(line, sizeof line, "%6s  %-16s  %-10s  %10s  %6s\n", "group", "ranks", "layers", "cost", "share");
  out += line;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const RankGroup& group = groups[g];
    const std::string layers = group.end_layer == group.first_layer ? "-"
                               : group.end_layer - group.first_layer == 1
                                   ? std::to_string(group.first_layer)
                                   : str(group.first_layer, "-", group.end_layer - 1);
    std::snprintf(line, sizeof line, "%6zu  %-16s  %-10s  %10s  %5.1f%%\n", g, format_ranks(group.ranks).c_str(),
                  layers.c_str(), format_cost(group.cost).c_str(), total > 0 ? 100.0 * group.cost / total : 0.0);
    out += line;
  }
  return out;
}

}  // namespace fq::cluster
