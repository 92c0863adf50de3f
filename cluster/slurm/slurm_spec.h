// What a Slurm batch job for flatquant asks for: a plain struct (the pipeline's YAML `slurm:` section maps
// onto it field by field), rendered into a job script by render_sbatch (sbatch_render.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace fq::cluster {

enum class SlurmLauncher {
  kSrun,    // srun --mpi=pmix --kill-on-bad-exit=1: Slurm starts the ranks (preferred: accounting, binding)
  kMpirun,  // mpirun inside the allocation (Open MPI takes the hosts from Slurm)
};
std::string launcher_name(SlurmLauncher launcher);                                // "srun" / "mpirun"
SlurmLauncher parse_launcher(const std::string& name, const std::string& where);  // throws naming `where`

struct SlurmSpec {
  std::string job_name = "flatquant";
  int nodes = 1;
  int ntasks_per_node = 1;  // MPI ranks per node: one per GPU
  int gpus_per_node = 0;    // --gpus-per-node; 0 asks for none
  int cpus_per_task = 1;    // also OMP_NUM_THREADS of each rank unless the environment sets it
  std::string memory;       // --mem, e.g. "0" (all of the node's memory) or "500G"; empty: cluster default
  std::string time = "04:00:00";  // wall-clock limit: [days-]hours:minutes:seconds or minutes
  std::string partition;          // empty: the cluster's default partition
  std::string account;            // empty: the user's default account
  bool exclusive = false;         // --exclusive: whole nodes
  // --requeue, and the script requeues the job itself when the step exits 75 ("resume me"). Off: the
  // script exits 75 and the job must be submitted again.
  bool requeue = true;
  // --signal: USR1 to the batch shell 300 s before the time limit, time to finish a step and save.
  std::string signal = "B:USR1@300";
  SlurmLauncher launcher = SlurmLauncher::kSrun;
  std::vector<std::string> launcher_args;  // extra arguments for srun / mpirun
  // --output; sbatch does not create directories, so the directory must exist. %x job name, %j job id.
  std::string output = "flatquant-%x-%j.out";
  std::string workdir;  // --chdir; empty: the directory sbatch was run from
  // Exported before launching, in order. NCCL_NVLS_ENABLE=0 keeps NVLink multicast off.
  std::vector<std::pair<std::string, std::string>> environment = {{"NCCL_NVLS_ENABLE", "0"}};
  std::vector<std::string> extra_sbatch;  // more options, each written as "#SBATCH <option>"
  std::vector<std::string> setup;         // shell lines run before the launch (module load ..., source env)
};

// Throws fq::Error naming the field and value of the first invalid entry (counts, time format, signal
// format, names with whitespace or newlines, environment names).
void validate_slurm_spec(const SlurmSpec& spec);

}  // namespace fq::cluster
