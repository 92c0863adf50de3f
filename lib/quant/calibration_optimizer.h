// The reference's optimiser set-up for one layer's calibration (ALGORITHM.md "Calibration loop"):
// AdamW (PyTorch defaults: betas 0.9/0.999, eps 1e-8, weight decay 0.01) with the transform factors and
// diag scales at `lr` and the clipping logits at 10 x lr; cosine annealing over all steps down to
// lr * 1e-3, optionally multiplied by a linear warm-up from 0.01 to 1 over the first 16 steps; and the
// loss normalisation: the loss is divided by its own detached value before backward.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

namespace torch::optim {
class AdamW;
}

namespace fq::quant {

struct TrainableParameters {
  std::vector<at::Tensor> transforms;  // transform factors and singular values
  std::vector<at::Tensor> diags;       // per-channel diag scales
  std::vector<at::Tensor> clips;       // LWC / LAC logits
  int64_t numel() const;
};

struct ScheduleOptions {
  double lr = 5e-3;
  int64_t total_steps = 1;  // epochs * (nsamples / batch)
  bool warmup = false;
  double clip_lr_multiplier = 10.0;
  double weight_decay = 0.01;
};

// lr multiplier of step `step` (0-based; the lr used by that step's update).
double schedule_factor(const ScheduleOptions& options, int64_t step);

class CalibrationOptimizer {
 public:
  CalibrationOptimizer(const TrainableParameters& params, const ScheduleOptions& options);
  ~CalibrationOptimizer();

  // Normalises `loss` (loss / loss.detach()), back-propagates, steps and advances the schedule.
  void step(const at::Tensor& loss);
  // The same update for a batch run as micro-batches (less memory; equal up to float summation order):
  // accumulate(part_loss, weight) back-propagates each micro-batch's loss, weight = its share of the batch;
  // step_accumulated() divides the gradients by the batch loss sum(weight * part_loss) (the normalisation
  // of step()), steps, and returns that batch loss.
  void accumulate(const at::Tensor& part_loss, double weight);
  double step_accumulated();
  // Called after the gradients are complete and before every update (expert parallelism sums some of
  // them over a group of ranks there).
  void set_before_update(std::function<void()> hook) { before_update_ = std::move(hook); }
  int64_t steps_taken() const { return step_; }
  double current_lr() const;  // of the transform group
  // Optimiser state (Adam moments and step counts) for training checkpoints, as named tensors.
  torch::optim::AdamW& adamw() { return *adam_; }
  void set_steps_taken(int64_t step);

 private:
  void apply_schedule();
  ScheduleOptions options_;
  std::vector<double> base_lrs_;
  std::unique_ptr<torch::optim::AdamW> adam_;
  int64_t step_ = 0;
  std::function<void()> before_update_;
  double accumulated_loss_ = 0;
  int64_t accumulated_parts_ = 0;
};

}  // namespace fq::quant
