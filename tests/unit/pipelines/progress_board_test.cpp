// Rank 0's progress line of a multi-rank run: layers done of the model's total, every rank's state, and an
// ETA once every rank with work left has a measured speed; a rank that finished keeps its count.
#include "pipelines/run/progress_board.h"

#include <gtest/gtest.h>

#include "tests/support/shared_dir.h"

namespace fq::pipelines {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(ProgressBoard, SummaryShowsLayersRanksAndEta) {
  const RunLayout layout(test::scratch_dir("progress_board"));
  ProgressBoard rank0(layout, 0, 3, 61), rank1(layout, 1, 3, 61);
  rank0.publish(Json{{"stage", "capture"}});
  std::string line = rank0.summary();
  EXPECT_TRUE(contains(line, "layers 0/61 done")) << line;
  EXPECT_TRUE(contains(line, "r0:capture r1:starting r2:starting")) << line;

  // Rank 1 is one epoch into its first layer, rank 0 has not finished an epoch: no ETA yet.
  rank0.publish(Json{{"stage", "calibrate"}, {"layer", 0}, {"layers_done", 0}, {"layers", 20}, {"cost_done", 0.0},
                     {"cost_total", 10.0}});
  rank1.publish(Json{{"stage", "calibrate"}, {"layer", 20}, {"epoch", 1}, {"epochs", 15}, {"layers_done", 0},
                     {"layers", 21}, {"cost_done", 1.0}, {"cost_total", 10.0}});
  line = rank0.summary();
  EXPECT_TRUE(contains(line, "eta ?")) << line;
  EXPECT_TRUE(contains(line, "r0:calibrate@L0 r1:calibrate@L20e1/15")) << line;
  EXPECT_TRUE(contains(line, "work 5%")) << line;

  // Rank 0 finished its block and waits: its 20 layers still count; the ETA is rank 1's.
  rank0.publish(Json{{"stage", "calibrate"}, {"layers_done", 20}, {"cost_done", 10.0}});
  rank0.publish(Json{{"stage", "waiting"}});
  line = rank0.summary();
  EXPECT_TRUE(contains(line, "layers 20/61 done")) << line;
  EXPECT_TRUE(contains(line, "work 55%")) << line;
  EXPECT_TRUE(contains(line, "r0:waiting r1:")) << line;
  EXPECT_FALSE(contains(line, "eta ?")) << line;
}

}  // namespace
}  // namespace fq::pipelines
