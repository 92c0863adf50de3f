// Submitting a job script.
#pragma once

#include <string>
#include <vector>

namespace fq::cluster {

// Runs `sbatch --parsable [extra_args...] script_path` and returns the job id. Throws fq::Error with
// sbatch's output when it fails or prints no job id.
std::string submit_sbatch(const std::string& script_path, const std::vector<std::string>& extra_args = {});

}  // namespace fq::cluster
