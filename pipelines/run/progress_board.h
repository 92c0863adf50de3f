// Progress of a multi-rank run through files (DIR/progress/rank_NNN.json, rewritten atomically by each
// rank after every epoch), so that rank 0 can print the whole job's state without any rank waiting on
// another: layers done / total, what each rank is doing, and an ETA from each rank's calibration speed.
#pragma once

#include <cstdint>
#include <string>

#include "lib/core/json.h"
#include "pipelines/run/run_layout.h"

namespace fq::pipelines {

class ProgressBoard {
 public:
  // `num_layers`: the model's layers, the "total" of the summary.
  ProgressBoard(const RunLayout& layout, int rank, int world_size, int64_t num_layers);
  // This rank's state: {"stage", "layer", "epoch", "epochs", "cost_done", "cost_total", "layers_done", "layers"}.
  // The counters (layers_done, layers, cost_done, cost_total) carry over from the previous state when
  // `state` leaves them out, so that a rank that finished its block and waits still counts its layers.
  void publish(const Json& state);
  // One line: "layers 3/61 done, work 41%, eta 2h05m | r0:calibrate@L1e3/15 r1:waiting ...". The ETA is the
  // slowest rank's remaining cost at its calibration speed so far (the "?" until every rank with work left
  // has finished an epoch).
  std::string summary() const;

 private:
  std::string path_of(int rank) const;
  std::string dir_;
  int rank_;
  int world_size_;
  int64_t num_layers_;
  Json last_ = Json::object();
};

}  // namespace fq::pipelines
