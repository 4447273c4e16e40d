// Proves, with the storage power-cut model (storage/power_fault.h), that a power cut at any point
// of the KRaft metadata log's work keeps what Raft was told was durable: every flushed batch
// (Raft acknowledges an append as persisted after flush()), the last quorum-state written (a vote
// must outlive the cut), the last snapshot written; that a truncation, once returned, never
// comes undone; and that quorum-state and snapshot files are old or new, never torn (a torn
// quorum-state would stop the node from starting). GREGOR_POWER_SEED=<n> replays a seed,
// GREGOR_POWER_SEEDS=<n> runs more.
#include <cstdlib>
#include <random>

#include <gtest/gtest.h>

#include "gregor/controller/metadata_log.h"
#include "gregor/storage/power_fault.h"
#include "../storage/power_seeds.h"

using namespace gregor;
using namespace gregor::controller;
namespace md = gregor::protocol::metadata;
namespace fs = std::filesystem;
namespace pf = gregor::storage::power_fault;

namespace {

const auto seeds = gregor::storage::power_test::power_seeds;

std::vector<framed_record> one_topic(const std::string& name) {
  md::topic_record t;
  t.name = name;
  t.topic_id = uuid{9, std::hash<std::string>{}(name)};
  std::vector<framed_record> out;
  out.push_back(frame(md::any_record{std::move(t)}));
  return out;
}

std::string topic_name(const metadata_batch& b) {
  if (b.control || b.records.empty()) return "<control>";
  const auto* t = std::get_if<md::topic_record>(&b.records[0].message);
  return t ? t->name : "<other>";
}

// What the scenario did, as Raft would see it.
struct history {
  std::vector<std::string> names;  // by offset: one topic record per batch
  size_t flushed = 0;              // batches below this were acknowledged durable
  // A truncation or flush the cut interrupted may have happened, or not.
  std::optional<std::vector<std::string>> names_before_truncation;
  size_t sync_attempted = 0;
  std::optional<std::string> append_in_flight;
  std::optional<quorum_state_file> quorum_acked;  // the last write_quorum_state that returned ok
  std::vector<quorum_state_file> quorum_attempted;
  std::optional<snapshot_id> snapshot_acked;
  std::vector<snapshot_id> snapshot_attempted;
};

struct metadata_log_power : ::testing::Test {
  manual_clock clk{1'700'000'000'000};
  fs::path dir;

  void SetUp() override {
    std::random_device rd;
    std::error_code ec;
    fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir = base / fmt::format("gregor-mlog-power-{:x}{:x}", rd(), rd()) / metadata_dir_name;
    pf::install();
  }
  void TearDown() override {
    pf::uninstall();
    fs::remove_all(dir.parent_path());
  }

  static storage::log_config cfg() {
    storage::log_config c;
    c.segment_bytes = 400;  // a roll every few batches
    c.file_delete_delay_ms = 0;
    return c;
  }

  history run(uint64_t seed, std::optional<uint64_t> cut_after, pf::cut_mode mode, int steps) {
    history h;
    std::mt19937_64 rng(seed * 31 + 7);
    if (cut_after) pf::arm_cut_after(*cut_after, seed, mode);
    {
      auto opened = metadata_log::open(dir, clk, cfg());
      if (opened) {
        auto& log = **opened;
        int32_t epoch = 1;
        for (int i = 0; i < steps && !pf::powered_off(); ++i) {
          const int kind = int(rng() % 12);
          if (kind == 0) {
            quorum_state_file q{node_id(1), leader_epoch(++epoch), node_id(int32_t(rng() % 3)), {}};
            h.quorum_attempted.push_back(q);
            if (log.write_quorum_state(q)) h.quorum_acked = q;
          } else if (kind <= 2) {
            h.sync_attempted = h.names.size();
            if (log.flush()) h.flushed = h.names.size();
          } else if (kind == 3 && h.flushed > 0) {
            snapshot_id id{offset(int64_t(1 + rng() % h.flushed)), leader_epoch(epoch)};
            if (h.snapshot_acked && id <= *h.snapshot_acked) continue;
            h.snapshot_attempted.push_back(id);
            if (log.write_snapshot(id, one_topic("snap"), {})) h.snapshot_acked = id;
          } else if (kind == 4 && h.snapshot_acked) {
            (void)log.delete_below_snapshot();
          } else if (kind == 5 && !h.names.empty()) {
            // Raft truncates a suffix that is not committed (here: any suffix above the snapshot).
            const size_t floor = h.snapshot_acked ? size_t(h.snapshot_acked->end_offset.value()) : 0;
            if (h.names.size() <= floor) continue;
            const size_t to = floor + rng() % (h.names.size() - floor);
            auto before = h.names;
            if (log.truncate_to(offset(int64_t(to)))) {
              h.names.resize(to);
              h.flushed = std::min(h.flushed, to);
              h.sync_attempted = std::min(h.sync_attempted, to);
            } else {
              h.names_before_truncation = before;
              h.names.resize(to);
              h.flushed = std::min(h.flushed, to);
            }
          } else {
            const std::string name = fmt::format("t{}-{}", seed, i);
            auto r = log.append_records(leader_epoch(epoch), clk.now_ms(), one_topic(name));
            if (r) {
              EXPECT_EQ(r->value(), int64_t(h.names.size()));
              h.names.push_back(name);
            } else {
              h.append_in_flight = name;
            }
          }
        }
      }
      if (!pf::powered_off()) pf::power_off(seed, mode);
    }
    pf::restore_power();
    return h;
  }

  void check(const history& h, const std::string& where) {
    auto opened = metadata_log::open(dir, clk, cfg());
    ASSERT_TRUE(opened.has_value()) << where << ": " << opened.error().message;
    auto rec = (*opened)->take_recovered();
    // quorum-state: the last acknowledged one or a later attempt, never torn (open would refuse).
    if (h.quorum_acked) {
      ASSERT_TRUE(rec.quorum.has_value()) << where << ": an acknowledged vote was lost";
      EXPECT_GE(rec.quorum->leader_epoch, h.quorum_acked->leader_epoch) << where << ": an older vote came back";
    }
    if (rec.quorum) {
      EXPECT_NE(std::find(h.quorum_attempted.begin(), h.quorum_attempted.end(), *rec.quorum), h.quorum_attempted.end())
          << where << ": a quorum-state nobody wrote";
    }
    // Snapshots: the acknowledged one survives (or a later attempt), and it decodes.
    if (h.snapshot_acked) {
      ASSERT_TRUE(rec.snapshot.has_value()) << where << ": an acknowledged snapshot was lost";
      EXPECT_GE(*rec.snapshot, *h.snapshot_acked) << where;
    }
    if (rec.snapshot) {
      EXPECT_NE(std::find(h.snapshot_attempted.begin(), h.snapshot_attempted.end(), *rec.snapshot),
                h.snapshot_attempted.end()) << where;
      EXPECT_TRUE(rec.snapshot_contents.has_value()) << where;
    }
    // The batches: a prefix of what was appended (after the truncations that returned), holding
    // at least every flushed batch.
    const int64_t from = rec.snapshot ? rec.snapshot->end_offset.value() : 0;
    const int64_t end = (*opened)->log_end_offset().value();
    EXPECT_GE(end, int64_t(h.flushed)) << where << ": flushed batches were lost";
    auto matches = [&](const std::vector<std::string>& names) {
      if (end > int64_t(names.size()) + (h.append_in_flight ? 1 : 0)) return false;
      int64_t at = from;
      for (const auto& b : rec.batches) {
        if (b.base_offset.value() != at) return false;
        const std::string want = size_t(at) < names.size() ? names[size_t(at)] : h.append_in_flight.value_or("");
        if (topic_name(b) != want) return false;
        at = b.last_offset.value() + 1;
      }
      return at == std::max(end, from);
    };
    EXPECT_TRUE(matches(h.names) || (h.names_before_truncation && matches(*h.names_before_truncation)))
        << where << ": the log [" << from << ", " << end << ") is not a prefix of what was appended ("
        << h.names.size() << " batches, " << h.flushed << " flushed)";
  }
};

TEST_F(metadata_log_power, flushed_batches_votes_and_snapshots_survive_a_cut_at_any_point) {
  constexpr int steps = 50;
  int cuts = 0;
  size_t flushed = 0, snapshots = 0, votes = 0, truncated_in_flight = 0;
  for (uint64_t seed : seeds(25)) {
    uint64_t ops = 0;
    {
      const uint64_t before = pf::ops_seen();
      run(seed, std::nullopt, pf::cut_mode::keep_all, steps);
      ops = pf::ops_seen() - before;
      fs::remove_all(dir.parent_path());
    }
    std::mt19937_64 rng(seed);
    for (int p = 0; p < 8; ++p) {
      for (auto mode : {pf::cut_mode::drop_all, pf::cut_mode::random_tear}) {
        const uint64_t at = rng() % (ops + 1);
        auto h = run(seed, at, mode, steps);
        flushed += h.flushed;
        snapshots += h.snapshot_acked ? 1 : 0;
        votes += h.quorum_acked ? 1 : 0;
        truncated_in_flight += h.names_before_truncation ? 1 : 0;
        check(h, fmt::format("seed={} (replay: GREGOR_POWER_SEED={}) {} cut after {} of {} ops", seed, seed,
                             mode == pf::cut_mode::drop_all ? "drop_all" : "random_tear", at, ops));
        fs::remove_all(dir.parent_path());
        ++cuts;
        if (HasFailure()) return;
      }
    }
  }
  RecordProperty("cuts", cuts);
  if (!std::getenv("GREGOR_POWER_SEED")) {
    // The scenario does what it claims to (not a test that passes when nothing happens).
    EXPECT_GT(flushed, size_t(cuts));
    EXPECT_GT(snapshots, size_t(cuts / 4));
    EXPECT_GT(votes, size_t(cuts / 4));
  }
  std::printf("%d cuts: %zu flushed batches, %zu snapshots and %zu votes acknowledged, %zu truncations cut\n",
              cuts, flushed, snapshots, votes, truncated_in_flight);
}

}  // namespace
