// Progress of a multi-rank run through files (DIR/progress/rank_NNN.json, rewritten atomically by each
// rank after every epoch), so that rank 0 can print the whole job's state without any rank waiting on
// another: layers done / total, what each rank is doing, and an ETA from the cost done so far.
#pragma once

#include <string>

#include "lib/core/json.h"
#include "pipelines/run/run_layout.h"

namespace fq::pipelines {

class ProgressBoard {
 public:
  ProgressBoard(const RunLayout& layout, int rank, int world_size);
  // This rank's state: {"stage", "layer", "epoch", "epochs", "cost_done", "cost_total", "layers_done", "layers"}.
  void publish(const Json& state);
  // One summary line of every rank's last published state (rank 0 logs it).
  std::string summary() const;

 private:
  std::string path_of(int rank) const;
  std::string dir_;
  int rank_;
  int world_size_;
  double started_;
};

}  // namespace fq::pipelines
