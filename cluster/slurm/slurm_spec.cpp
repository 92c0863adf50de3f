#include "cluster/slurm/slurm_spec.h"

#include <regex>

#include "lib/core/error.h"

namespace fq::cluster {
namespace {

bool has_space(const std::string& s) { return s.find_first_of(" \t\r\n") != std::string::npos; }

void check_word(const std::string& value, const char* field, bool may_be_empty) {
  FQ_CHECK(may_be_empty || !value.empty(), "slurm spec: '", field, "' must not be empty");
  FQ_CHECK(!has_space(value), "slurm spec: '", field, "' = '", value, "' must not contain whitespace");
}

}  // namespace

std::string launcher_name(SlurmLauncher launcher) { return launcher == SlurmLauncher::kSrun ? "srun" : "mpirun"; }

SlurmLauncher parse_launcher(const std::string& name, const std::string& where) {
  if (name == "srun") return SlurmLauncher::kSrun;
  if (name == "mpirun") return SlurmLauncher::kMpirun;
  throw Error(str(where, ": launcher '", name, "' is not one of srun, mpirun"));
}

void validate_slurm_spec(const SlurmSpec& s) {
  check_word(s.job_name, "job_name", false);
  FQ_CHECK(s.nodes >= 1, "slurm spec: 'nodes' must be >= 1, got ", s.nodes);
  FQ_CHECK(s.ntasks_per_node >= 1, "slurm spec: 'ntasks_per_node' must be >= 1, got ", s.ntasks_per_node);
  FQ_CHECK(s.gpus_per_node >= 0, "slurm spec: 'gpus_per_node' must be >= 0, got ", s.gpus_per_node);
  FQ_CHECK(s.cpus_per_task >= 1, "slurm spec: 'cpus_per_task' must be >= 1, got ", s.cpus_per_task);
  static const std::regex memory("[0-9]+[KMGT]?");
  FQ_CHECK(s.memory.empty() || std::regex_match(s.memory, memory), "slurm spec: 'memory' = '", s.memory,
           "' is not a size such as 0, 64000, 500G");
  // sbatch --time: minutes, minutes:seconds, hours:minutes:seconds, days-hours[:minutes[:seconds]].
  static const std::regex time("([0-9]+-[0-9]+(:[0-9]+){0,2}|[0-9]+(:[0-9]+){0,2}|INFINITE|UNLIMITED)");
  FQ_CHECK(std::regex_match(s.time, time), "slurm spec: 'time' = '", s.time,
           "' is not a Slurm time limit such as 04:00:00, 90 or 1-12:00:00");
  check_word(s.partition, "partition", true);
  check_word(s.account, "account", true);
  // sbatch --signal=[{R|B}:]<sig_num>[@sig_time]
  static const std::regex signal("(([RB]|RB|BR):)?[A-Z0-9]+(@[0-9]+)?");
  FQ_CHECK(s.signal.empty() || std::regex_match(s.signal, signal), "slurm spec: 'signal' = '", s.signal,
           "' is not [B:|R:]SIGNAL[@seconds] such as B:USR1@300");
  check_word(s.output, "output", false);
  check_word(s.workdir, "workdir", true);
  static const std::regex env_name("[A-Za-z_][A-Za-z0-9_]*");
  for (const auto& [name, value] : s.environment) {
    FQ_CHECK(std::regex_match(name, env_name), "slurm spec: environment name '", name, "' is not a valid variable name");
  }
  for (const std::string& option : s.extra_sbatch) {
    FQ_CHECK(!option.empty() && option[0] == '-' && option.find('\n') == std::string::npos,
             "slurm spec: extra sbatch option '", option, "' must be one option line starting with '-'");
  }
}

}  // namespace fq::cluster
