#include "gregor/rpc/backoff.h"

#include <algorithm>

#include "gregor/base/assert.h"

namespace gregor::rpc {

int64_t backoff_delay_ms(const backoff_policy& policy, uint32_t failures, std::mt19937_64& rng) {
  GREGOR_ASSERT(failures >= 1);
  GREGOR_ASSERT(policy.base_ms >= 0 && policy.max_ms >= policy.base_ms);
  GREGOR_ASSERT(policy.jitter >= 0 && policy.jitter < 1);
  // Doubling stops once past the cap, so the shift never overflows.
  double delay_ms = double(policy.base_ms);
  for (uint32_t i = 1; i < failures && delay_ms < double(policy.max_ms); ++i) delay_ms *= 2;
  delay_ms = std::min(delay_ms, double(policy.max_ms));
  if (policy.jitter > 0) {
    std::uniform_real_distribution<double> factor(1 - policy.jitter, 1 + policy.jitter);
    delay_ms *= factor(rng);
  }
  return std::max<int64_t>(1, int64_t(delay_ms));
}

}  // namespace gregor::rpc
