#pragma once
// Seeds for the power-cut tests: 1..GREGOR_POWER_SEEDS (default `n`), or just GREGOR_POWER_SEED to
// replay the one a failure printed.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gregor/storage/power_fault.h"

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

// What a failure prints: the seed and the command that replays this test with it.
inline std::string replay(uint64_t seed) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return fmt::format("seed={} (replay: GREGOR_POWER_SEED={} storage_tests --gtest_filter='{}.{}')", seed, seed,
                     info->test_suite_name(), info->name());
}

// A fresh directory (in /dev/shm when there is one: the cuts are simulated, the disk is not
// needed), removed with everything in it at the end of the scope.
struct scratch_dir {
  scratch_dir(std::string_view prefix, std::string_view tag) {
    std::random_device rd;
    std::error_code ec;
    namespace fs = std::filesystem;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    path = base / fmt::format("{}-{}-{:x}{:x}", prefix, tag, rd(), rd());
    fs::create_directories(path);
  }
  ~scratch_dir() {
    // Pending changes in here must not outlive it: a later cut would undo them and recreate it.
    if (power_fault::active()) power_fault::forget(path);
    std::filesystem::remove_all(path);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  std::filesystem::path path;
};

}  // namespace gregor::storage::power_test
