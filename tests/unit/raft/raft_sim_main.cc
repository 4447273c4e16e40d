// raft_sim: the long run of the Raft simulation. `raft_sim --seeds 100000 [--first 1]` sweeps
// seeds and prints a summary; `raft_sim --seed N` replays one seed and prints its counters.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sim.h"

using namespace gregor::raft::sim;

int main(int argc, char** argv) {
  uint64_t first = 1, seeds = 1000;
  bool one = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seeds")) seeds = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--first")) first = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--seed")) {
      first = std::strtoull(argv[i + 1], nullptr, 10);
      seeds = 1;
      one = true;
    }
    else {
      std::fprintf(stderr, "usage: raft_sim [--seeds N] [--first S] | --seed S\n");
      return 2;
    }
  }
  auto start = std::chrono::steady_clock::now();
  uint64_t failed = 0;
  stats total;
  int64_t liveness_ms_max = 0;
  for (uint64_t s = first; s < first + seeds; ++s) {
    outcome o = run_seed(s);
    if (!o.ok) {
      ++failed;
      std::printf("FAIL %s\n", o.failure.c_str());
    }
    total.elections += o.counters.elections;
    total.committed += o.counters.committed;
    total.crashes += o.counters.crashes;
    total.snapshots += o.counters.snapshots;
    total.messages += o.counters.messages;
    total.voter_changes += o.counters.voter_changes;
    if (o.counters.liveness_ms > liveness_ms_max) liveness_ms_max = o.counters.liveness_ms;
    if (one) {
      std::printf("seed=%llu ok=%d elections=%lld committed=%lld crashes=%lld snapshots=%lld "
                  "messages=%lld liveness_ms=%lld voter_changes=%lld\n",
                  (unsigned long long)s, int(o.ok), (long long)o.counters.elections,
                  (long long)o.counters.committed, (long long)o.counters.crashes,
                  (long long)o.counters.snapshots, (long long)o.counters.messages,
                  (long long)o.counters.liveness_ms, (long long)o.counters.voter_changes);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("seeds=%llu..%llu failed=%llu elections=%lld committed=%lld crashes=%lld "
              "snapshot_loads=%lld messages=%lld voter_changes=%lld worst_liveness_ms=%lld wall_s=%.1f\n",
              (unsigned long long)first, (unsigned long long)(first + seeds - 1),
              (unsigned long long)failed, (long long)total.elections, (long long)total.committed,
              (long long)total.crashes, (long long)total.snapshots, (long long)total.messages,
              (long long)total.voter_changes, (long long)liveness_ms_max, secs);
  return failed ? 1 : 0;
}
