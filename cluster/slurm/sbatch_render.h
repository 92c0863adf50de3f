// The batch script for a SlurmSpec and a command (cluster/slurm/flatquant.sbatch.in, embedded at build
// time): #SBATCH options, environment, traps that forward stop signals to the step, and the requeue when
// the step exits 75. See cluster/README.md for the whole preemption / requeue / resume cycle.
#pragma once

#include <string>
#include <vector>

#include "cluster/slurm/slurm_spec.h"

namespace fq::cluster {

// The built-in template.
const std::string& sbatch_template();

// Renders `template_text` (placeholders {{SBATCH_OPTIONS}}, {{ENVIRONMENT}}, {{SETUP}},
// {{REQUEUE_ON_RESUME}}, {{LAUNCH}}) for `spec`, launching `command` (argv, quoted for bash) on every
// rank. Validates the spec; an unknown or missing placeholder is an fq::Error.
std::string render_sbatch(const SlurmSpec& spec, const std::vector<std::string>& command,
                          const std::string& template_text = sbatch_template());

}  // namespace fq::cluster
