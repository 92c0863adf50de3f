// How the evaluation tasks run token rows through the model: on one rank, or pipelined over the ranks of
// an MPI job so that a model larger than one GPU evaluates on the GPUs of a node (or several).
//
// A task hands over "walks": each a list of batches of token rows (model::PrefixedTokenRows: the rows' own
// tokens [n, s], padded to one length, after an optional prefix [P] they share: the few-shot prefix of
// MMLU / C-Eval, shared_prefix.h; and optionally in groups, each after a stem of its own: a question its
// options share), and a model::RowResults that turns one micro-batch's last hidden states
// into small per-row results with the output head (a window's NLL, a question's option scores). Every rank
// makes the same calls with the same walks: each rank reads the task's inputs itself, as it reads the
// checkpoint.
//
// One rank, streaming (layer_residency.h): each walk takes the layer-by-layer walk (model::walk_token_rows:
// one layer resident at a time, every batch through it, a batch's prefix once, then the next layer), every
// call loading and quantizing every layer again. One rank, resident: the rank is the whole pipeline below,
// one stage holding every layer, built once; its micro-batches run through all layers one after another.
//
// R ranks: a forward-only pipeline (GPipe without the backward). The shard plan (cluster/shard_plan.h)
// gives each rank a contiguous block of layers, balanced by the parameters it keeps resident; the rank
// loads and freezes them once, when this object is made, and keeps them for every call. The first stage
// (rank 0) also holds the embedding, the last stage the final norm and head. The batches are cut into
// micro-batches of options.micro_batch rows, within each group (model::row_chunks); the first micro-batch
// of a batch brings the batch's prefix, the first of a group the group's stem, which every stage runs
// through each of its layers once and whose keys/values it keeps for the later micro-batches
// (ResidentLayers::forward_micro_batch): per layer, the same model::layer_forward_batches calls as one
// rank's walk. Rank 0 embeds micro-batch i, runs its layers and hands the hidden states on (the prefix's
// and the stem's, when it brings them, then the rows'; send_tensor: NCCL between GPUs, MPI otherwise), then
// starts on i + 1 while the next stage works on i, and so on down the chain. A send returns once the next
// stage takes the micro-batch (hidden states are far above MPI's eager limit; NCCL sends complete with the
// receive), so a stage runs at most one micro-batch ahead of its successor and holds one micro-batch's
// activations in and one out, whatever the number of micro-batches. The last stage computes the row results and streams them back to rank 0
// (cluster::TensorStream, never blocking), which collects them between its own micro-batches and logs the
// progress. The micro-batches of all walks of a call stream back to back: the pipeline fills and drains
// once per call. Since one rank's walk cuts the same micro-batches at every layer, the results of R ranks
// equal one rank's bit for bit on the CPU.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "lib/core/json.h"
#include "lib/flat/frozen_layer.h"
#include "lib/io/checkpoint.h"
#include "lib/model/causal_lm.h"
#include "pipelines/evaluate/eval_model.h"
#include "pipelines/evaluate/layer_residency.h"

namespace fq::cluster {
class MpiWorld;
class NcclComm;
}  // namespace fq::cluster

namespace fq::pipelines {

// The batches of token rows that one rank runs through the layers in one walk.
using TokenWalk = std::vector<model::PrefixedTokenRows>;

// Per decoder layer, the parameters a pipeline stage keeps resident for it: the layer's, plus the embedding
// with the first layer and the final norm and head with the last (in small models as large as a layer).
std::vector<double> eval_layer_costs(const io::ModelConfig& config);

class EvalForward {
 public:
  // One rank when `world` is null or has one rank: `residency` decides (and logs) whether every layer is
  // loaded and frozen now, once, or for each call. Otherwise collective: makes the shard plan (more ranks
  // than decoder layers is an error, the same on every rank; so is kStream), logs it on rank 0, and loads
  // and freezes this rank's layers. `nccl` (may be null) carries the hidden states between GPUs.
  EvalForward(const io::Checkpoint& checkpoint, EvalModel& model, const model::ModelOptions& options,
              LayerResidency residency, const cluster::MpiWorld* world = nullptr, cluster::NcclComm* nccl = nullptr);
  ~EvalForward();
  EvalForward(const EvalForward&) = delete;
  EvalForward& operator=(const EvalForward&) = delete;

  // Collective. On rank 0: the per-row results of every walk, concatenated in order (walk after walk, batch
  // after batch, row after row; RowResults' first_row counts the rows so), [rows, ...] on the CPU. On the
  // other ranks: an undefined tensor.
  at::Tensor run(const std::vector<TokenWalk>& walks, const model::RowResults& results);

  // Rank 0 prints and writes the results.
  bool is_root() const;
  // Whether this rank's layers were built once and are kept (several ranks, or one rank resident).
  bool layers_resident() const { return stage_ != nullptr; }
  int ranks() const;
  // Collective: rank 0's `make()` on every rank (`make` runs on rank 0 only; an fq::Error it throws is
  // thrown on every rank).
  Json from_root(const std::function<Json()>& make) const;
  // Collective, where every rank is in step (between calls): true on every rank when any rank got a stop
  // signal (cluster/stop_signals.h).
  bool stop_requested() const;
  // Collective: the quantized weight memory of every layer of the model (summed over the ranks).
  flat::WeightMemory weight_memory() const;
  // This rank's share of the work so far (pipelined: layers, micro-batches, compute and waiting seconds).
  void log_stage_summary() const;

 private:
  struct Stage;
  // Loads and freezes layers [first_layer, end_layer), with the embedding on first_rank and the head on
  // last_rank.
  std::unique_ptr<Stage> make_stage(int64_t first_layer, int64_t end_layer, int first_rank, int last_rank) const;
  at::Tensor run_pipelined(const std::vector<TokenWalk>& walks, const model::RowResults& results);

  const io::Checkpoint& checkpoint_;
  EvalModel& model_;
  model::ModelOptions options_;
  const cluster::MpiWorld* world_;
  cluster::NcclComm* nccl_;
  std::unique_ptr<Stage> stage_;  // R > 1 ranks, or one rank with resident layers
};

}  // namespace fq::pipelines
