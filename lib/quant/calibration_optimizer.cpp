#include "lib/quant/calibration_optimizer.h"

#include <torch/optim/adamw.h>

#include <cmath>

#include "lib/core/error.h"

namespace fq::quant {

int64_t TrainableParameters::numel() const {
  int64_t n = 0;
  for (const auto* group : {&transforms, &diags, &clips}) {
    for (const auto& t : *group) n += t.numel();
  }
  return n;
}

double schedule_factor(const ScheduleOptions& options, int64_t step) {
  constexpr double kEtaMinRatio = 1e-3;
  const double t = static_cast<double>(std::min(step, options.total_steps));
  const double cosine = kEtaMinRatio + (1.0 - kEtaMinRatio) * 0.5 * (1.0 + std::cos(M_PI * t / options.total_steps));
  if (!options.warmup) return cosine;
  constexpr double kWarmupStart = 0.01;
  constexpr int64_t kWarmupSteps = 16;
  const double warm = kWarmupStart + (1.0 - kWarmupStart) * std::min<double>(step, kWarmupSteps) / kWarmupSteps;
  return cosine * warm;
}

CalibrationOptimizer::CalibrationOptimizer(const TrainableParameters& params, const ScheduleOptions& options)
    : options_(options) {
  FQ_CHECK(options.total_steps >= 1, "calibration optimizer: total steps must be >= 1, got ", options.total_steps);
  FQ_CHECK(options.lr > 0, "calibration optimizer: lr must be > 0, got ", options.lr);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  auto add = [&](const std::vector<at::Tensor>& tensors, double lr) {
    if (tensors.empty()) return;
    auto opts = std::make_unique<torch::optim::AdamWOptions>(lr);
    opts->weight_decay(options.weight_decay);
    groups.emplace_back(tensors, std::move(opts));
    base_lrs_.push_back(lr);
  };
  add(params.transforms, options.lr);
  add(params.diags, options.lr);
  add(params.clips, options.lr * options.clip_lr_multiplier);
  FQ_CHECK(!groups.empty(), "calibration optimizer: nothing to train (transforms, diag scales and clipping are all off)");
  adam_ = std::make_unique<torch::optim::AdamW>(std::move(groups), torch::optim::AdamWOptions(options.lr));
  apply_schedule();
}

CalibrationOptimizer::~CalibrationOptimizer() = default;

void CalibrationOptimizer::apply_schedule() {
  const double factor = schedule_factor(options_, step_);
  auto& groups = adam_->param_groups();
  for (size_t i = 0; i < groups.size(); ++i) {
    static_cast<torch::optim::AdamWOptions&>(groups[i].options()).lr(base_lrs_[i] * factor);
  }
}

void CalibrationOptimizer::step(const at::Tensor& loss) {
  adam_->zero_grad();
  (loss / loss.detach()).backward();
  if (before_update_) before_update_();
  adam_->step();
  ++step_;
  apply_schedule();
}

void CalibrationOptimizer::accumulate(const at::Tensor& part_loss, double weight) {
  if (accumulated_parts_++ == 0) adam_->zero_grad();
  (part_loss * weight).backward();
  accumulated_loss_ += weight * part_loss.item<double>();
}

double CalibrationOptimizer::step_accumulated() {
  FQ_CHECK(accumulated_parts_ > 0, "step_accumulated() without accumulate()");
  const double loss = accumulated_loss_;
  if (before_update_) before_update_();
  for (auto& group : adam_->param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) p.mutable_grad().div_(loss);
    }
  }
  adam_->step();
  ++step_;
  apply_schedule();
  accumulated_loss_ = 0;
  accumulated_parts_ = 0;
  return loss;
}

void CalibrationOptimizer::set_steps_taken(int64_t step) {
  step_ = step;
  apply_schedule();
}

double CalibrationOptimizer::current_lr() const {
  return static_cast<const torch::optim::AdamWOptions&>(adam_->param_groups()[0].options()).lr();
}

}  // namespace fq::quant
