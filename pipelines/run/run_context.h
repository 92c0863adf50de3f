// Everything a stage of a calibration run needs, set up once per process by the calibrate command:
// the config, the run directory, the checkpoint, the run's identity, this rank and its device, the plan.
#pragma once

#include <functional>
#include <memory>

#include <c10/core/Device.h>

#include "cluster/group_comm.h"
#include "cluster/mpi_world.h"
#include "cluster/nccl_comm.h"
#include "cluster/shard_plan.h"
#include "lib/core/json.h"
#include "lib/io/checkpoint.h"
#include "pipelines/config/run_config.h"
#include "pipelines/run/run_layout.h"
#include "pipelines/run/run_manifest.h"

namespace fq::pipelines {

struct RunContext {
  RunConfig config;
  RunLayout layout;
  io::Checkpoint checkpoint;
  RunIdentity identity;
  const cluster::MpiWorld* world = nullptr;
  cluster::NcclComm* nccl = nullptr;
  // The ranks of this rank's plan group (expert parallelism when more than one).
  const cluster::GroupComm* expert_group = nullptr;
  c10::Device device = c10::kCPU;
  cluster::ShardPlan plan;
  // Polled between steps: this rank's stop flag, or a peer's stop (cluster/peer_stop.h).
  std::function<bool()> should_stop;
  // Called after every epoch with a one-line state of this rank (progress board).
  std::function<void(const Json&)> on_progress;

  int64_t num_layers() const { return identity.num_layers; }
  store::Attributes file_attributes() const { return identity.file_attributes(); }
};

}  // namespace fq::pipelines
