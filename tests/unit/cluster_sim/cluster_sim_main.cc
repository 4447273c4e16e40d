// cluster_sim: the long run of the cluster simulation. `cluster_sim --seeds 5000 [--first 1]`
// sweeps seeds and prints a summary; `cluster_sim --seed N` replays one seed and prints its
// counters. --no-metadata-catch-up (brokers act on their metadata image at once after a restart)
// and --alter-partition-drops-pending (a leader drops its pending ISR on any AlterPartition error
// or timeout) run the brokers as Gregor's server does today (see cluster_sim.h).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cluster_sim.h"

using namespace gregor::cluster_sim;

namespace {

void add(stats& t, const stats& s) {
  t.controller_elections += s.controller_elections;
  t.metadata_offsets += s.metadata_offsets;
  t.crashes += s.crashes;
  t.pauses += s.pauses;
  t.network_changes += s.network_changes;
  t.messages += s.messages;
  t.writes_sent += s.writes_sent;
  t.writes_acked += s.writes_acked;
  t.fencings += s.fencings;
  t.leader_changes += s.leader_changes;
  t.isr_changes += s.isr_changes;
  t.truncations += s.truncations;
  t.metadata_snapshots += s.metadata_snapshots;
  if (s.heal_ms > t.heal_ms) t.heal_ms = s.heal_ms;  // the worst
}

void print(const char* head, const stats& s) {
  std::printf("%s controller_elections=%lld metadata_offsets=%lld crashes=%lld pauses=%lld network_changes=%lld "
              "messages=%lld writes_sent=%lld writes_acked=%lld fencings=%lld partition_leader_changes=%lld "
              "isr_changes=%lld truncations=%lld metadata_snapshot_loads=%lld heal_ms%s=%lld\n",
              head, (long long)s.controller_elections, (long long)s.metadata_offsets, (long long)s.crashes,
              (long long)s.pauses, (long long)s.network_changes, (long long)s.messages, (long long)s.writes_sent,
              (long long)s.writes_acked, (long long)s.fencings, (long long)s.leader_changes,
              (long long)s.isr_changes, (long long)s.truncations, (long long)s.metadata_snapshots,
              std::strstr(head, "seeds=") ? "_worst" : "", (long long)s.heal_ms);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t first = 1, seeds = 100;
  bool one = false, catch_up = true, keeps_pending = true;
  // As Gregor's server does today (see cluster_sim.h): flags without a value, anywhere.
  for (int i = 1; i < argc;) {
    bool flag = true;
    if (!std::strcmp(argv[i], "--no-metadata-catch-up")) catch_up = false;
    else if (!std::strcmp(argv[i], "--alter-partition-drops-pending")) keeps_pending = false;
    else flag = false;
    if (!flag) {
      ++i;
      continue;
    }
    for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
    --argc;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--seeds")) seeds = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--first")) first = std::strtoull(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--seed")) {
      first = std::strtoull(argv[i + 1], nullptr, 10);
      seeds = 1;
      one = true;
    } else {
      std::fprintf(stderr, "usage: cluster_sim [--no-metadata-catch-up] [--alter-partition-drops-pending] [--seeds N] [--first S] | --seed S\n");
      return 2;
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr, "usage: cluster_sim [--no-metadata-catch-up] [--alter-partition-drops-pending] [--seeds N] [--first S] | --seed S\n");
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  uint64_t failed = 0;
  stats total;
  for (uint64_t s = first; s < first + seeds; ++s) {
    options opts = options_for_seed(s);
    opts.metadata_catch_up = catch_up;
    opts.alter_partition_keeps_pending = keeps_pending;
    outcome o = run(s, opts);
    if (!o.ok) {
      ++failed;
      std::printf("FAIL %s\n", o.failure.c_str());
      std::fflush(stdout);
    }
    add(total, o.counters);
    if (one) {
      char head[64];
      std::snprintf(head, sizeof head, "seed=%llu ok=%d", (unsigned long long)s, int(o.ok));
      print(head, o.counters);
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  char head[128];
  std::snprintf(head, sizeof head, "seeds=%llu..%llu failed=%llu wall_s=%.1f", (unsigned long long)first,
                (unsigned long long)(first + seeds - 1), (unsigned long long)failed, secs);
  print(head, total);
  return failed ? 1 : 0;
}
