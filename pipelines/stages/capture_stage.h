// Stage 1, capture: the full-precision forward as a chain over the ranks. The owner of layer i computes
// its output from its input (the embeddings for layer 0) and writes it as activations/layer_{i+1}.h5,
// which is both the next layer's input and this layer's calibration target; at the end of its block it
// hands the activations to the owner of the next block (NCCL between GPUs, MPI otherwise). A rank holds one
// layer's weights at a time. Files that already exist (a resumed run) are verified and reused.
#pragma once

#include <cstdint>
#include <vector>

#include "pipelines/run/run_context.h"

namespace fq::pipelines {

// Which activation files (0..num_layers) existed when the run started, as every rank must agree:
// rank 0 scans, then broadcasts.
std::vector<bool> scan_activation_files(const RunContext& ctx);

// Thrown on every rank of the chain when a stop was requested during the capture.
struct CaptureStopped {};

// Runs this rank's part of the chain. `have`: the result of scan_activation_files.
void run_capture(const RunContext& ctx, const std::vector<bool>& have);

}  // namespace fq::pipelines
