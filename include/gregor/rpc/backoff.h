#pragma once
// Reconnect back-off: exponential from `base_ms`, capped at `max_ms`, each delay multiplied by a
// random factor in [1 - jitter, 1 + jitter] (Kafka's reconnect.backoff.ms = 50,
// reconnect.backoff.max.ms = 1000, jitter 0.2). The randomness comes from a seeded generator the
// caller owns, so a test replays the same delays from the same seed.
#include <cstdint>
#include <random>

namespace gregor::rpc {

struct backoff_policy {
  int64_t base_ms = 50;
  int64_t max_ms = 1000;
  double jitter = 0.2;  // 0 = no jitter
};

// Delay before the next attempt after `failures` consecutive failed attempts (failures >= 1):
// base * 2^(failures - 1), capped at max, jittered. Never below 1 ms nor above max * (1 + jitter).
int64_t backoff_delay_ms(const backoff_policy& policy, uint32_t failures, std::mt19937_64& rng);

}  // namespace gregor::rpc
