#include "cluster/shard_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "lib/core/error.h"

namespace fq::cluster {
namespace {

// DeepSeek V3's shape, scaled down: 3 dense layers, then MoE layers 8x as costly, one skipped layer.
ShardRequest moe_request(int world_size, int group_size) {
  ShardRequest r;
  r.layer_costs = {1, 1, 1, 8, 8, 8, 8, 0, 8, 8, 8, 8};
  r.world_size = world_size;
  r.expert_group_size = group_size;
  r.num_experts = 16;
  return r;
}

TEST(ShardPlan, EveryLayerHasExactlyOneGroupAndBlocksAreContiguousInOrder) {
  const ShardPlan plan = make_shard_plan(moe_request(4, 1));
  ASSERT_EQ(plan.groups.size(), 4u);
  int next = 0;
  for (const RankGroup& g : plan.groups) {
    EXPECT_EQ(g.first_layer, next);
    EXPECT_GE(g.end_layer, g.first_layer);
    next = g.end_layer;
  }
  EXPECT_EQ(next, plan.num_layers());
  for (int layer = 0; layer < plan.num_layers(); ++layer) {
    const int owner = plan.owner_of_layer(layer);
    const std::vector<int> layers = plan.layers_of_rank(owner);
    EXPECT_NE(std::find(layers.begin(), layers.end(), layer), layers.end()) << "layer " << layer;
  }
  // 8 MoE layers over 4 ranks: 2 each at best, and the first also takes the 3 dense layers: 3 + 16.
  EXPECT_DOUBLE_EQ(plan.max_group_cost(), 19.0);
}

TEST(ShardPlan, ExpertGroupsStayOnOneNodeAndSplitTheExperts) {
  // 8 ranks on 2 nodes, placed cyclically (rank r on node r % 2), groups of 2.
  ShardRequest r = moe_request(8, 2);
  r.node_of_rank = {0, 1, 0, 1, 0, 1, 0, 1};
  const ShardPlan plan = make_shard_plan(r);
  ASSERT_EQ(plan.groups.size(), 4u);
  // Node by node: consecutive groups share a node, so the chain crosses nodes once.
  EXPECT_EQ(plan.groups[0].ranks, (std::vector<int>{0, 2}));
  EXPECT_EQ(plan.groups[1].ranks, (std::vector<int>{4, 6}));
  EXPECT_EQ(plan.groups[2].ranks, (std::vector<int>{1, 3}));
  EXPECT_EQ(plan.groups[3].ranks, (std::vector<int>{5, 7}));
  for (const RankGroup& g : plan.groups) {
    std::set<int> nodes;
    for (int rank : g.ranks) nodes.insert(r.node_of_rank[rank]);
    EXPECT_EQ(nodes.size(), 1u) << "group led by rank " << g.ranks[0] << " spans nodes";
  }
  // Round robin: member m holds experts m, m+2, ...; every expert has exactly one holder per layer.
  EXPECT_EQ(plan.experts_of_rank(4), (std::vector<int>{0, 2, 4, 6, 8, 10, 12, 14}));
  EXPECT_EQ(plan.experts_of_rank(6), (std::vector<int>{1, 3, 5, 7, 9, 11, 13, 15}));
  for (int layer = 0; layer < plan.num_layers(); ++layer) {
    const RankGroup& g = plan.groups[plan.group_of_layer(layer)];
    for (int e = 0; e < r.num_experts; ++e) {
      const int holder = plan.rank_of_expert(layer, e);
      EXPECT_NE(std::find(g.ranks.begin(), g.ranks.end(), holder), g.ranks.end());
      const std::vector<int> held = plan.experts_of_rank(holder);
      EXPECT_NE(std::find(held.begin(), held.end(), e), held.end()) << "layer " << layer << " expert " << e;
    }
  }
}

TEST(ShardPlan, ContiguousExpertRangesCoverEveryExpertOnce) {
  ShardRequest r = moe_request(3, 3);
  r.num_experts = 10;  // not a multiple of the group size
  r.expert_split = ExpertSplit::kContiguous;
  const ShardPlan plan = make_shard_plan(r);
  EXPECT_EQ(plan.experts_of_rank(0), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(plan.experts_of_rank(1), (std::vector<int>{3, 4, 5}));
  EXPECT_EQ(plan.experts_of_rank(2), (std::vector<int>{6, 7, 8, 9}));
  for (int e = 0; e < 10; ++e) EXPECT_EQ(plan.rank_of_expert(5, e), e < 3 ? 0 : e < 6 ? 1 : 2);
}

TEST(ShardPlan, SingleRankGroupsOwnAllExperts) {
  const ShardPlan plan = make_shard_plan(moe_request(2, 1));
  EXPECT_EQ(plan.experts_of_rank(1).size(), 16u);
  EXPECT_EQ(plan.member_index(1), 0);
}

TEST(ShardPlan, RefusesGroupsThatWouldSpanNodesOrLackExperts) {
  ShardRequest r = moe_request(6, 2);
  r.node_of_rank = {0, 0, 0, 1, 1, 1};  // 3 ranks per node: groups of 2 would cross a node
  try {
    make_shard_plan(r);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("node 0 has 3 ranks"), std::string::npos) << e.what();
  }
  ShardRequest dense = moe_request(4, 2);
  dense.num_experts = 0;
  EXPECT_THROW(make_shard_plan(dense), Error);
  ShardRequest bad_cost = moe_request(2, 1);
  bad_cost.layer_costs[3] = -1;
  EXPECT_THROW(make_shard_plan(bad_cost), Error);
}

TEST(ShardPlan, JsonRoundTripAndDeterminism) {
  ShardRequest r = moe_request(8, 2);
  r.expert_split = ExpertSplit::kContiguous;
  const ShardPlan plan = make_shard_plan(r);
  EXPECT_EQ(make_shard_plan(r), plan);
  const ShardPlan back = ShardPlan::from_json(Json::parse(plan.to_json().dump()), "manifest.json shard_plan");
  EXPECT_EQ(back, plan);
}

TEST(ShardPlan, FromJsonNamesWhatIsWrong) {
  const Json good = make_shard_plan(moe_request(4, 1)).to_json();
  auto expect_error = [&](Json j, const std::string& fragment) {
    try {
      ShardPlan::from_json(j, "run/manifest.json");
      FAIL() << "expected an error mentioning '" << fragment << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("run/manifest.json"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  Json missing = good;
  missing.erase("layer_costs");
  expect_error(missing, "layer_costs");
  Json duplicate = good;
  duplicate["groups"][1]["ranks"] = {0};
  expect_error(duplicate, "rank 0");
  Json gap = good;
  gap["groups"][1]["layers"][0] = gap["groups"][1]["layers"][0].get<int>() + 1;
  expect_error(gap, "groups[1]");
  Json cost = good;
  cost["groups"][0]["cost"] = 1e6;
  expect_error(cost, "does not match");
}

TEST(ShardPlan, TableListsEveryGroup) {
  const ShardPlan plan = make_shard_plan(moe_request(4, 2));
  const std::string table = plan.table();
  EXPECT_NE(table.find("12 layers on 4 ranks in 2 groups of 2"), std::string::npos) << table;
  EXPECT_NE(table.find("experts: 16 per MoE layer, round_robin"), std::string::npos) << table;
  EXPECT_NE(table.find("0-1"), std::string::npos) << table;  // ranks of group 0
  EXPECT_NE(table.find("2-3"), std::string::npos) << table;
}

}  // namespace
}  // namespace fq::cluster
