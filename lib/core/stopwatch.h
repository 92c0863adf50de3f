// Wall-clock timing and remaining-time estimates for progress lines.
#pragma once

#include <chrono>

namespace fq {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  void reset() { start_ = std::chrono::steady_clock::now(); }
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  // Linear estimate of the time left after `done` of `total` units of work took seconds().
  double eta_seconds(double done, double total) const {
    return done <= 0 ? -1.0 : seconds() * (total - done) / done;
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace fq
