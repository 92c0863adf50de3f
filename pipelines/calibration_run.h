// The main job, `flatquant calibrate`: capture -> calibrate -> gather over however many ranks the job
// has (mpirun, srun, or one process), resumable at any point (ALGORITHM.md, issue "calibration pipeline").
#pragma once

#include <string>
#include <vector>

namespace fq::pipelines {

struct CalibrationRequest {
  std::string config_path;             // YAML (may be empty: defaults + overrides)
  std::vector<std::string> overrides;  // --set key=value
  std::string out_dir;                 // --out (overrides output_dir)
  std::string stage = "all";           // all | capture | calibrate | gather
};

// Returns kExitOk, or kExitResume after a stop request with everything complete saved. Throws fq::Error
// for bad input (on every rank alike where the input is shared).
int run_calibration(const CalibrationRequest& request);

}  // namespace fq::pipelines
