#pragma once
// Capped exponential backoff with jitter, for reconnecting: many
// workers losing the same database must not all come back in step.
#include <algorithm>
#include <random>

namespace jobqueue::core {

class Backoff {
 public:
  explicit Backoff(double first_seconds = 0.1, double cap_seconds = 10.0)
      : first_(first_seconds), cap_(cap_seconds), rng_(std::random_device{}()) {}

  // The next delay: uniform in [ceiling/2, ceiling], the ceiling doubling
  // from first_seconds up to cap_seconds.
  double Next() {
    const double ceiling = std::min(cap_, first_ * static_cast<double>(1ull << std::min(attempt_, 20)));
    ++attempt_;
    return std::uniform_real_distribution<double>(ceiling / 2, ceiling)(rng_);
  }
  void Reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  double first_;
  double cap_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace jobqueue::core
