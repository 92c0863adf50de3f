// Which rank calibrates which decoder layers (and which experts of a MoE layer).
//
// Ranks form groups; each group owns one CONTIGUOUS block of layers, blocks in group order, balanced by
// the pipeline's per-layer cost estimates with an optimal linear partition (linear_partition.h), so the
// full-precision forward hands activations from group to group along the chain. A group has
// expert_group_size ranks on one node: all of them work on each layer of the block, and a MoE layer's
// routed experts are split between them (expert parallelism); with groups of 1 a rank owns whole layers.
//
// The plan is a plain value: deterministic (same request, same plan, on every rank), stored as JSON in
// the run manifest and printed as a table at start.
#pragma once

#include <string>
#include <vector>

#include "lib/core/json.h"

namespace fq::cluster {

enum class ExpertSplit {
  kRoundRobin,  // expert e -> group member e % G
  kContiguous,  // member m -> experts [m*E/G, (m+1)*E/G)
};
std::string expert_split_name(ExpertSplit split);                                 // "round_robin" / "contiguous"
ExpertSplit parse_expert_split(const std::string& name, const std::string& where);  // throws naming `where`

struct ShardRequest {
  // Per decoder layer, in order: the pipeline's estimate (a MoE layer far above a dense one; a layer
  // that is skipped, e.g. already calibrated, costs 0). Finite and >= 0.
  std::vector<double> layer_costs;
  int world_size = 1;
  // G: ranks that share each layer of their block, experts split between them. Divides the rank count of
  // every node (a group never spans nodes: expert parallelism exchanges activations every layer).
  int expert_group_size = 1;
  int num_experts = 0;  // routed experts per MoE layer; 0 for a dense model
  ExpertSplit expert_split = ExpertSplit::kRoundRobin;
  // Node index of every rank (MpiWorld::node_of_rank()); empty means all ranks on one node.
  std::vector<int> node_of_rank;
};

struct RankGroup {
  std::vector<int> ranks;  // ascending; ranks[0] is the leader (owns the hand-off of the block's output)
  int first_layer = 0;     // the block is [first_layer, end_layer); empty when equal
  int end_layer = 0;
  double cost = 0;         // sum of the block's layer costs
  bool operator==(const RankGroup& other) const;
};

struct ShardPlan {
  std::vector<double> layer_costs;
  int world_size = 1;
  int expert_group_size = 1;
  int num_experts = 0;
  ExpertSplit expert_split = ExpertSplit::kRoundRobin;
  std::vector<RankGroup> groups;  // group g holds the g-th block of layers

  int num_layers() const { return static_cast<int>(layer_costs.size()); }
  int group_of_rank(int rank) const;
  int group_of_layer(int layer) const;
  // The leader of the layer's group: it receives the layer's input and sends its output along the chain.
  int owner_of_layer(int layer) const;
  std::vector<int> layers_of_rank(int rank) const;  // the rank's group's block, ascending
  // Position of `rank` in its group (0 = leader).
  int member_index(int rank) const;
  // Experts of a MoE layer that `rank` calibrates (every rank of the layer's group holds the same share
  // pattern); all experts when groups have one rank.
  std::vector<int> experts_of_rank(int rank) const;
  // The rank of `layer`'s group that holds `expert`.
  int rank_of_expert(int layer, int expert) const;
  double max_group_cost() const;

  Json to_json() const;
  // Validates everything (ranks cover the world once, groups of G, blocks contiguous in order and
  // covering every layer, costs matching); errors name `where` and the field.
  static ShardPlan from_json(const Json& json, const std::string& where);
  // Human-readable table: one line per group with ranks, layers, cost and share of the total.
  std::string table() const;
  bool operator==(const ShardPlan& other) const;
};

ShardPlan make_shard_plan(const ShardRequest& request);

}  // namespace fq::cluster
