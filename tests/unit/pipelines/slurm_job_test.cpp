#include "pipelines/config/slurm_job.h"

#include <gtest/gtest.h>

#include "lib/core/error.h"

namespace fq::pipelines {
namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The config's slurm: keys become #SBATCH options, and every rank runs calibrate with the same config,
// overrides and run directory (so a requeued job resumes the same run).
TEST(SlurmJob, RendersTheConfigsSlurmSectionAndTheCalibrateCommand) {
  const RunConfig config = load_run_config(
      "", {"slurm.nodes=2", "slurm.ntasks_per_node=4", "slurm.gpus_per_node=4", "slurm.time=1-00:00:00",
           "slurm.partition=gpu", "slurm.account=quant", "slurm.launcher=mpirun", "slurm.signal=B:USR1@600"});
  const CalibrationJob job{"/opt/fq/flatquant", "/cfg/dsv3.yaml", {"flatquant.epochs=3"}, "/runs/dsv3"};
  const std::string script = render_calibration_job(config, job);
  for (const char* line : {"#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --gpus-per-node=4",
                           "#SBATCH --time=1-00:00:00", "#SBATCH --partition=gpu", "#SBATCH --account=quant",
                           "#SBATCH --requeue", "#SBATCH --signal=B:USR1@600", "#SBATCH --output=/runs/dsv3/"}) {
    EXPECT_TRUE(contains(script, line)) << line << "\n" << script;
  }
  EXPECT_TRUE(contains(script, "mpirun")) << script;
  EXPECT_TRUE(contains(script, "/opt/fq/flatquant calibrate --config /cfg/dsv3.yaml --set flatquant.epochs=3 --out "
                               "/runs/dsv3"))
      << script;
  const std::string srun = render_calibration_job(load_run_config("", {}), job);
  EXPECT_TRUE(contains(srun, "srun --mpi=pmix")) << srun;
}

TEST(SlurmJob, InvalidSlurmSettingsNameTheKey) {
  const CalibrationJob job{"/opt/fq/flatquant", "", {}, "/runs/x"};
  try {
    render_calibration_job(load_run_config("", {"slurm.time=forever"}), job);
    FAIL() << "an invalid time limit was accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "slurm")) << e.what();
    EXPECT_TRUE(contains(e.what(), "time")) << e.what();
  }
  EXPECT_THROW(load_run_config("", {"slurm.launcher=pbs"}), Error);
  EXPECT_THROW(load_run_config("", {"slurm.nodes=0"}), Error);
}

}  // namespace
}  // namespace fq::pipelines
