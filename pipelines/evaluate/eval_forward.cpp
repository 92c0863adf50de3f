#include "pipelines/evaluate/eval_forward.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <optional>

#include "cluster/collectives.h"
#include "cluster/mpi_world.h"
#include "cluster/root_task.h"
#include "cluster/shard_plan.h"
#include "cluster/stop_signals.h"
#include "cluster/tensor_stream.h"
#include "cluster/tensor_transfer.h"
#include "kernels/device_memory.h"
#include "lib/core/error.h"
#include "lib/core/log.h"
#include "lib/core/stop_flag.h"
#include "lib/core/stopwatch.h"
#include "lib/model/resident_layers.h"
#include "pipelines/run/layer_cost.h"

namespace fq::pipelines {
namespace {

// Rank 0's progress line of a pipelined call: at most this often, and when the last results arrive.
constexpr double kProgressIntervalSeconds = 10;

// Micro-batch `chunk` (rows, group) of batch `batch` of walk `walk`; `first_row` numbers its first row among
// all rows.
struct MicroBatch {
  size_t walk = 0;
  size_t batch = 0;
  model::RowChunk chunk;
  int64_t first_row = 0;
};

std::vector<MicroBatch> cut_micro_batches(const std::vector<TokenWalk>& walks, int64_t micro_batch) {
  FQ_CHECK(micro_batch > 0, "micro_batch must be positive, got ", micro_batch);
  std::vector<MicroBatch> batches;
  int64_t row = 0;
  for (size_t w = 0; w < walks.size(); ++w) {
    for (size_t b = 0; b < walks[w].size(); ++b) {
      const model::PrefixedTokenRows& rows = walks[w][b];
      FQ_CHECK(rows.ids.dim() == 2 && rows.ids.size(0) > 0 && rows.ids.size(1) > 0,
               "token rows must be a non-empty [n, seq] tensor, got ", rows.ids.sizes());
      FQ_CHECK(!rows.prefix.defined() || (rows.prefix.dim() == 1 && rows.prefix.size(0) > 0),
               "a shared prefix must be a non-empty [P] token tensor, got ", rows.prefix.sizes());
      FQ_CHECK(rows.stems.size() == rows.group_rows.size(), "token rows have one stem per group, got ",
               rows.stems.size(), " stems for ", rows.group_rows.size(), " groups");
      for (const at::Tensor& stem : rows.stems) {
        FQ_CHECK(!stem.defined() || (stem.dim() == 1 && stem.size(0) > 0),
                 "a group's stem must be a non-empty [Q] token tensor, got ", stem.sizes());
      }
      for (const model::RowChunk& chunk : model::row_chunks(rows.ids.size(0), rows.group_rows, micro_batch)) {
        batches.push_back({w, b, chunk, row});
        row += chunk.rows;
      }
    }
  }
  return batches;
}

// "3" or "0-5": a block of layers in log lines.
std::string layer_block(int64_t first, int64_t end) {
  return end - first == 1 ? std::to_string(first) : str(first, "-", end - 1);
}

}  // namespace

std::vector<double> eval_layer_costs(const io::ModelConfig& config) {
  std::vector<double> costs;
  for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) costs.push_back(layer_parameter_count(config, layer));
  const double vocab_matrix = static_cast<double>(config.vocab_size) * static_cast<double>(config.hidden_size);
  if (!costs.empty()) {
    costs.front() += vocab_matrix;                                            // embedding
    costs.back() += vocab_matrix + static_cast<double>(config.hidden_size);  // lm_head, final norm
  }
  return costs;
}

// What a rank of a pipelined evaluation keeps for the whole run.
struct EvalForward::Stage {
  std::unique_ptr<model::ResidentLayers> layers;
  std::optional<model::TokenEmbedding> embedding;  // the first stage
  std::optional<model::OutputHead> head;           // the last stage
  int first_rank = 0, last_rank = 0;               // of the chain
  int previous = -1, next = -1;                    // neighbours on the chain; -1 at its ends
  int64_t micro_batches = 0;
  double compute_seconds = 0, wait_seconds = 0;
};

EvalForward::EvalForward(const io::Checkpoint& checkpoint, EvalModel& model, const model::ModelOptions& options,
                         LayerResidency residency, const cluster::MpiWorld* world, cluster::NcclComm* nccl)
    : checkpoint_(checkpoint), model_(model), options_(options), world_(world), nccl_(nccl) {
  const int64_t layers = checkpoint.config().num_hidden_layers;
  if (ranks() == 1) {
    const int64_t weights = resident_weight_bytes(checkpoint.config(), model.packs_int4(), options.dtype);
    const int64_t available = kernels::available_memory_bytes(options.device);
    const bool resident = keep_layers_resident(residency, weights, available);
    log::info("eval", resident ? "layers resident: built once for every pass" : "layers streamed: built for each pass",
              {{"residency", layer_residency_name(residency)},
               {"weights_estimate_gib", static_cast<double>(weights) / (1 << 30)},
               {"available_gib", static_cast<double>(available) / (1 << 30)},
               {"device", options.device.str()}});
    if (resident) stage_ = make_stage(0, layers, 0, 0);
    return;
  }
  FQ_CHECK(residency != LayerResidency::kStream, "layer residency 'stream' needs one rank: each of the ", ranks(),
           " ranks of a pipelined evaluation keeps its block of layers resident");
  // Checked on every rank alike before any exchange: the job fails with one message and no rank waits.
  FQ_CHECK(ranks() <= layers, "evaluation on ", ranks(), " ranks: the model has ", layers,
           " decoder layers, and every rank of the pipeline holds at least one; use at most ", layers, " ranks");
  cluster::ShardRequest request;
  request.layer_costs = eval_layer_costs(checkpoint.config());
  request.world_size = ranks();
  request.node_of_rank = world->node_of_rank();
  const cluster::ShardPlan plan = cluster::make_shard_plan(request);
  const std::vector<int> mine = plan.layers_of_rank(world->rank());
  FQ_CHECK(!mine.empty(), "shard plan gave rank ", world->rank(), " no layers");  // positive costs, R <= layers
  FQ_ASSERT(plan.owner_of_layer(0) == 0);  // rank 0 embeds, collects the results and reports them
  if (world->is_root()) {
    log::info("plan", "pipeline plan (cost: resident parameters)\n" + plan.table(),
              {{"ranks", ranks()}, {"layers", static_cast<long long>(layers)}, {"micro_batch", options.micro_batch}});
  }
  stage_ = make_stage(mine.front(), mine.back() + 1, 0, plan.owner_of_layer(static_cast<int>(layers) - 1));
  if (mine.front() > 0) stage_->previous = plan.owner_of_layer(mine.front() - 1);
  if (mine.back() + 1 < layers) stage_->next = plan.owner_of_layer(mine.back() + 1);
}

std::unique_ptr<EvalForward::Stage> EvalForward::make_stage(int64_t first_layer, int64_t end_layer, int first_rank,
                                                            int last_rank) const {
  Stopwatch clock;
  auto stage = std::make_unique<Stage>();
  stage->first_rank = first_rank;
  stage->last_rank = last_rank;
  const int rank = world_ == nullptr ? 0 : world_->rank();
  if (rank == first_rank) stage->embedding = model::load_token_embedding(checkpoint_, options_);
  stage->layers = std::make_unique<model::ResidentLayers>(checkpoint_, first_layer, end_layer, options_, model_.hooks());
  if (rank == last_rank) stage->head = model::load_output_head(checkpoint_, options_);
  log::info("eval", "layers resident", {{"layers", layer_block(first_layer, end_layer)},
                                        {"device", options_.device.str()},
                                        {"seconds", clock.seconds()}});
  return stage;
}

EvalForward::~EvalForward() = default;

int EvalForward::ranks() const { return world_ == nullptr ? 1 : world_->size(); }

bool EvalForward::is_root() const { return world_ == nullptr || world_->is_root(); }

at::Tensor EvalForward::run(const std::vector<TokenWalk>& walks, const model::RowResults& results) {
  if (stage_) return run_pipelined(walks, results);
  const model::HooksForLayer hooks = model_.hooks();
  std::vector<at::Tensor> rows;
  int64_t first_row = 0;
  for (const TokenWalk& walk : walks) {
    rows.push_back(model::walk_token_rows(checkpoint_, walk, options_, hooks, results, first_row));
    first_row += rows.back().size(0);
  }
  return at::cat(rows);
}

at::Tensor EvalForward::run_pipelined(const std::vector<TokenWalk>& walks, const model::RowResults& results) {
  Stage& stage = *stage_;
  const int rank = world_ == nullptr ? 0 : world_->rank();
  const std::vector<MicroBatch> batches = cut_micro_batches(walks, options_.micro_batch);
  const bool first = rank == stage.first_rank, last = rank == stage.last_rank;
  // Results go from the last stage to rank 0, the first stage (groups are formed from rank 0 on); with
  // several ranks, every one holding layers, the two are different ranks. One rank is both stages.
  std::optional<cluster::TensorStream> stream;
  if (first != last) stream.emplace(*world_, stage.last_rank, stage.first_rank);
  std::vector<at::Tensor> collected;
  Stopwatch clock;
  double last_report = 0;
  auto collect = [&](at::Tensor rows) {
    const MicroBatch& b = batches[collected.size()];
    FQ_CHECK(rows.dim() >= 1 && rows.size(0) == b.chunk.rows, "rank ", rank, ": results of micro-batch ",
             collected.size(), " from rank ", stage.last_rank, " have shape ", rows.sizes(), ", expected ",
             b.chunk.rows, " rows");
    collected.push_back(std::move(rows));
    const size_t done = collected.size();
    if (done == batches.size() || clock.seconds() - last_report >= kProgressIntervalSeconds) {
      last_report = clock.seconds();
      log::info("progress", "micro-batches done",
                {{"done", str(done, "/", batches.size())},
                 {"elapsed", log::format_duration(clock.seconds())},
                 {"eta", log::format_duration(clock.eta_seconds(static_cast<double>(done),
                                                                static_cast<double>(batches.size())))}});
    }
  };
  at::NoGradGuard no_grad;
  const int64_t hidden = checkpoint_.config().hidden_size;
  for (size_t i = 0; i < batches.size(); ++i) {
    const MicroBatch& b = batches[i];
    const model::PrefixedTokenRows& tokens = walks[b.walk][b.batch];
    const model::RowChunk& chunk = b.chunk;
    const at::Tensor ids = tokens.ids.narrow(0, chunk.offset, chunk.rows);
    // The first micro-batch of a batch of rows brings its prefix, the first of a group its stem (sent first,
    // when there is one): each stage runs them through its layers and keeps their keys/values for the later
    // micro-batches of the batch or group. A micro-batch that starts a group is a batch of that one group.
    const bool starts = chunk.offset == 0, brings_prefix = starts && tokens.prefix.defined();
    const at::Tensor stem = chunk.starts_group ? tokens.stems[static_cast<size_t>(chunk.group)] : at::Tensor();
    const bool brings_stem = stem.defined();
    model::PrefixedBatch x;
    Stopwatch waited;
    if (first) {
      model::PrefixedTokenRows own{brings_prefix ? tokens.prefix : at::Tensor(), ids};
      if (chunk.starts_group) {
        own.stems = {stem};
        own.group_rows = {chunk.rows};
      }
      x = stage.embedding->embed(own);
    } else {
      if (brings_prefix) x.prefix = cluster::recv_tensor(*world_, stage.previous, options_.device, nccl_);
      if (chunk.starts_group) {
        x.stems = {brings_stem ? cluster::recv_tensor(*world_, stage.previous, options_.device, nccl_) : at::Tensor()};
        x.group_rows = {chunk.rows};
      }
      x.hidden = cluster::recv_tensor(*world_, stage.previous, options_.device, nccl_);
    }
    stage.wait_seconds += first ? 0.0 : waited.seconds();
    FQ_CHECK(x.hidden.dim() == 3 && x.hidden.size(0) == chunk.rows && x.hidden.size(1) == ids.size(1) &&
                 x.hidden.size(2) == hidden &&
                 (!brings_prefix || (x.prefix.dim() == 3 && x.prefix.size(1) == tokens.prefix.size(0))) &&
                 (!brings_stem || (x.stems[0].dim() == 3 && x.stems[0].size(1) == stem.size(0))),
             "rank ", rank, ": micro-batch ", i, " arrived from rank ", stage.previous, " as ",
             x.hidden.sizes(), brings_prefix ? " after a prefix " : "", brings_prefix ? x.prefix.sizes() : at::IntArrayRef(),
             brings_stem ? " and a stem " : "", brings_stem ? x.stems[0].sizes() : at::IntArrayRef(),
             ", expected [", chunk.rows, ", ", ids.size(1), ", ", hidden, "]",
             brings_prefix ? str(" after a prefix of ", tokens.prefix.size(0), " tokens") : std::string(),
             brings_stem ? str(" and a stem of ", stem.size(0), " tokens") : std::string(),
             ": the ranks were given different inputs");
    Stopwatch computed;  // on a GPU, kernels still queued count as waiting at the next synchronisation
    stage.layers->forward_micro_batch(x, /*continues_prefix=*/!starts);
    if (last) {
      const at::Tensor rows = results(*stage.head, b.first_row, ids, x.hidden).to(at::kCPU);
      stage.compute_seconds += computed.seconds();
      if (stream) {
        stream->post(rows);
      } else {
        collect(rows);
      }
    } else {
      stage.compute_seconds += computed.seconds();
      Stopwatch sent;
      if (brings_prefix) cluster::send_tensor(*world_, x.prefix, stage.next, nccl_);
      if (brings_stem) cluster::send_tensor(*world_, x.stems[0], stage.next, nccl_);
      cluster::send_tensor(*world_, x.hidden, stage.next, nccl_);
      stage.wait_seconds += sent.seconds();
    }
    ++stage.micro_batches;
    if (first && stream) {
      for (at::Tensor rows = stream->poll(); rows.defined(); rows = stream->poll()) collect(std::move(rows));
    }
  }
  if (last && stream) stream->flush();
  if (!first) return {};
  while (collected.size() < batches.size()) collect(stream->next());
  return at::cat(collected);
}

bool EvalForward::stop_requested() const {
  return world_ == nullptr ? fq::stop_requested() : cluster::any_rank_stop_requested(*world_);
}

Json EvalForward::from_root(const std::function<Json()>& make) const {
  if (ranks() == 1) return make();
  Json value;
  cluster::run_on_root(*world_, [&] { value = make(); });
  return Json::parse(cluster::broadcast_bytes(*world_, world_->is_root() ? value.dump() : std::string(), 0));
}

flat::WeightMemory EvalForward::weight_memory() const {
  const flat::WeightMemory mine = model_.weight_memory();
  if (ranks() == 1) return mine;
  const std::vector<std::int64_t> sum = cluster::allreduce(
      *world_, std::vector<std::int64_t>{mine.int4_bytes, mine.int4_as_bf16_bytes, mine.int4_linears, mine.fake_linears},
      cluster::ReduceOp::kSum);
  return {sum[0], sum[1], sum[2], sum[3]};
}

void EvalForward::log_stage_summary() const {
  if (!stage_) return;
  log::info("eval", "pipeline stage done",
            {{"layers", layer_block(stage_->layers->first(), stage_->layers->end())},
             {"micro_batches", static_cast<long long>(stage_->micro_batches)},
             {"compute_seconds", stage_->compute_seconds},
             {"wait_seconds", stage_->wait_seconds}});
}

}  // namespace fq::pipelines
