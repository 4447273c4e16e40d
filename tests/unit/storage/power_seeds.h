#pragma once
// Seeds for the power-cut tests: 1..GREGOR_POWER_SEEDS (default `n`), or just GREGOR_POWER_SEED to
// replay the one a failure printed.
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace gregor::storage::power_test {

inline uint64_t env_u64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : fallback;
}

inline std::vector<uint64_t> power_seeds(uint64_t n) {
  if (std::getenv("GREGOR_POWER_SEED")) return {env_u64("GREGOR_POWER_SEED", 1)};
  std::vector<uint64_t> out;
  for (uint64_t s = 1; s <= env_u64("GREGOR_POWER_SEEDS", n); ++s) out.push_back(s);
  return out;
}

}  // namespace gregor::storage::power_test
