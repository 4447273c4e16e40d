// Power cuts (power_fault.h) against compacted logs, the cleaner's swap and retention:
//   - compacted_log: seeded runs that append keyed records, flush, checkpoint, compact (the whole
//     .cleaned/.swap sequence), delete records, enforce retention and restart, the power going at
//     a random operation in every cut mode. After reopening: everything flushed (or, with
//     flush.messages=1, acknowledged) is there, every key's latest value at or above the log start
//     is there, every record is one that was appended at its offset, and no segment ends short of
//     the next one's base (the only hole a cut can make; compaction keeps segment ends).
//   - cleaner_swap / retention: one compaction pass (or retention pass, DeleteRecords and
//     checkpoint) over a flushed log, cut after every one of its file operations: every segment
//     is wholly its old or its new self, nothing is half-swapped, keys keep their latest values,
//     the log start never falls below what a completed operation made durable.
// A failure prints its seed; GREGOR_POWER_SEED=<n> replays it (GREGOR_POWER_SEEDS=<n> runs more).
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "test_env.h"
#include "gregor/base/clock.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/file.h"
#include "gregor/storage/log_manager.h"
#include "gregor/storage/partition_log.h"
#include "gregor/storage/power_fault.h"
#include "power_seeds.h"

namespace gregor::storage {
namespace {
namespace fs = std::filesystem;
namespace pf = power_fault;
using bytes = std::vector<uint8_t>;

constexpr int64_t t0 = 1'700'000'000'000;
const char* const mode_names[] = {"drop_all", "keep_all", "random_tear"};

using power_test::replay;

struct scratch_dir : power_test::scratch_dir {
  explicit scratch_dir(std::string_view tag) : power_test::scratch_dir("gregor-cpower", tag) {}
};

// A record as appended: its key and value (nullopt: a tombstone).
struct kv {
  std::string key;
  std::optional<std::string> value;
  bool operator==(const kv&) const = default;
};
using record_map = std::map<int64_t, kv>;  // by offset

// One batch of 1..4 records over `keys` keys with unique values (a tombstone now and then).
bytes keyed_batch(std::mt19937_64& rng, int keys, int64_t ts, uint64_t& counter, std::vector<kv>& out) {
  std::vector<protocol::record_input> recs;
  const int n = 1 + int(rng() % 4);
  for (int i = 0; i < n; ++i) {
    protocol::record_input r;
    kv k{fmt::format("key-{}", rng() % uint64_t(keys)), std::nullopt};
    if (rng() % 10 != 0) k.value = fmt::format("v{}-{}", ++counter, std::string(rng() % 300, 'x'));
    r.key = k.key;
    r.value = k.value;
    r.timestamp = ts + i;
    recs.push_back(std::move(r));
    out.push_back(std::move(k));
  }
  protocol::batch_options o;
  o.base_timestamp = ts;
  return protocol::build_batch(recs, o);
}

// What the log holds, batch by batch from its start (gaps inside segments allowed: compaction).
struct log_view {
  record_map records;
  int64_t start = 0, end = 0;
  std::string problem;
};

log_view view_of(const partition_log& log) {
  log_view v;
  v.start = log.log_start_offset().value();
  v.end = log.log_end_offset().value();
  int64_t next = v.start;
  while (next < v.end) {
    auto r = log.read(offset(next), 1, offset(INT64_MAX), true);
    if (!r) return v.problem = fmt::format("read {}: {}", next, r.error().message), v;
    if (r->data.empty()) return v.problem = fmt::format("nothing at {} below the end {}", next, v.end), v;
    auto h = protocol::parse_batch_header(r->data);
    if (!h || h->total_size() > r->data.size()) return v.problem = fmt::format("no whole batch at {}", next), v;
    std::span<const uint8_t> b(r->data.data(), h->total_size());
    if (!protocol::batch_crc_ok(b)) return v.problem = fmt::format("bad CRC at {}", h->base_offset), v;
    if (h->last_offset() < next) return v.problem = fmt::format("batch ending at {} for {}", h->last_offset(), next), v;
    auto fr = protocol::for_each_record(b, [&](const protocol::record_view& rv) {
      if (rv.offset < v.start) return;
      v.records[rv.offset] = kv{rv.key ? std::string(*rv.key) : std::string("<null>"),
                                rv.value ? std::optional<std::string>(std::string(*rv.value)) : std::nullopt};
    });
    if (!fr) return v.problem = fmt::format("records of the batch at {}: {}", h->base_offset, fr.error().message), v;
    next = h->last_offset() + 1;
  }
  return v;
}

// Every segment boundary is reached by the previous segment's last batch: the only hole a power
// cut can leave (a lost tail before a surviving next segment) is not there.
std::string boundary_problem(const partition_log& log) {
  const auto bases = log.segment_base_offsets();
  for (size_t i = 1; i < bases.size(); ++i) {
    const int64_t b = bases[i];
    if (b - 1 < log.log_start_offset().value()) continue;
    auto r = log.read(offset(b - 1), 1, offset(INT64_MAX), true);
    if (!r) return fmt::format("read {}: {}", b - 1, r.error().message);
    auto h = protocol::parse_batch_header(r->data);
    if (!h || h->last_offset() != b - 1)
      return fmt::format("segment before {} ends short of it (the batch holding {} is {})", b, b - 1,
                         h ? fmt::format("[{}, {}]", h->base_offset, h->last_offset()) : std::string("missing"));
  }
  return "";
}

// The latest record of every key in [start, end) of `appended`, which `got` must hold as it is.
std::string latest_values_problem(const record_map& appended, const log_view& got) {
  std::map<std::string, int64_t> latest;
  for (auto it = appended.lower_bound(got.start); it != appended.end() && it->first < got.end; ++it)
    latest[it->second.key] = it->first;
  for (const auto& [key, off] : latest) {
    auto it = got.records.find(off);
    if (it == got.records.end())
      return fmt::format("the latest record of {} (offset {}) is gone", key, off);
    if (it->second != appended.at(off)) return fmt::format("offset {} holds something else", off);
  }
  for (const auto& [off, rec] : got.records) {
    auto it = appended.find(off);
    if (it == appended.end() || it->second != rec) return fmt::format("offset {} was never appended as read", off);
  }
  return "";
}

struct compaction_power : ::testing::Test {
  manual_clock clk{t0};
  topic_partition tp{"compacted", partition_id(0)};
  uuid id{0x123, 0x456};

  void SetUp() override { pf::install(); }
  void TearDown() override { pf::uninstall(); }

  std::unique_ptr<log_manager> open_manager(const fs::path& dir) {
    auto m = log_manager::open(dir, clk, test_env::log_manager_cache_bytes());
    return m ? std::move(*m) : nullptr;
  }
  partition_log* open_log(log_manager& m, log_config cfg) {
    open_hints unused;
    test_env::apply(cfg, unused);
    auto pl = m.open_partition(tp, id, cfg);
    return pl ? *pl : nullptr;
  }
};

log_config compacted(int64_t flush_messages) {
  log_config cfg;
  cfg.compact = true;
  cfg.delete_enabled = false;
  cfg.segment_bytes = 2048;  // a few batches per segment
  cfg.index_interval_bytes = 256;
  cfg.flush_messages = flush_messages;
  cfg.file_delete_delay_ms = 0;
  return cfg;
}

// ---- compacted logs: random runs, random cut points ----

struct run_result {
  record_map appended;      // acknowledged records by offset
  int64_t acked_end = 0;    // end of the acknowledged appends
  int64_t durable_end = 0;  // everything below was flushed (or synced by a clean close)
  int64_t durable_start = 0;  // a checkpoint or clean close made this log start durable
  int64_t max_start = 0;      // the highest log start ever set
  std::vector<kv> in_flight;  // the append the power cut, if any (its base: acked_end)
};

struct compacted_log : compaction_power {
  // Random steps through a log_manager; the power goes after `cut_after` operations (or at the end).
  run_result run(const fs::path& dir, log_config cfg, uint64_t seed, pf::cut_mode mode,
                 std::optional<uint64_t> cut_after, int steps) {
    run_result a;
    std::mt19937_64 rng(seed * 31337 + 7);
    uint64_t counter = 0;
    if (cut_after) pf::arm_cut_after(*cut_after, seed, mode);
    {
      std::unique_ptr<log_manager> m;
      partition_log* log = nullptr;
      auto reopen = [&] {
        m = open_manager(dir);
        log = m ? open_log(*m, cfg) : nullptr;
        return log != nullptr;
      };
      bool up = reopen();
      for (int i = 0; up && i < steps && !pf::powered_off(); ++i) {
        clk.advance(100);
        const int kind = int(rng() % 24);
        if (kind < 2) {
          if (log->flush()) a.durable_end = a.acked_end;
        } else if (kind < 4) {
          const int64_t start = log->log_start_offset().value();
          if (m->checkpoint()) a.durable_start = std::max(a.durable_start, start);
        } else if (kind < 7) {
          // A cleaner pass, sometimes with a key map too small for the whole dirty range.
          const size_t map = rng() % 3 == 0 ? 200 : SIZE_MAX;
          (void)log->compact(clk.now_ms(), /*force=*/rng() % 2 == 0, map);
        } else if (kind == 7) {
          // DeleteRecords somewhere in the log, then retention drops the segments below it.
          const int64_t s = log->log_start_offset().value(), e = log->log_end_offset().value();
          if (e > s && rng() % 2 == 0) {
            const int64_t target = s + int64_t(rng() % uint64_t(e - s + 1));
            a.max_start = std::max(a.max_start, target);  // a cut in the middle may have made it durable
            (void)log->advance_log_start_offset(offset(target), clk.now_ms());
          }
          (void)log->enforce_retention(clk.now_ms());
          log->remove_deleted_files(clk.now_ms());
        } else if (kind == 8) {
          const int64_t start = log->log_start_offset().value();
          const bool closed = m->close_all().has_value();
          m.reset();
          if (closed) {
            a.durable_end = a.acked_end;
            a.durable_start = std::max(a.durable_start, start);
          }
          up = closed && reopen();
        } else {
          std::vector<kv> recs;
          bytes b = keyed_batch(rng, 12, clk.now_ms(), counter, recs);
          auto r = log->append(b, leader_epoch(1));
          if (r) {
            int64_t o = r->base_offset.value();
            for (auto& k : recs) a.appended[o++] = std::move(k);
            a.acked_end = o;
            if (cfg.flush_messages == 1) a.durable_end = a.acked_end;
          } else {
            a.in_flight = std::move(recs);
          }
        }
      }
      if (!pf::powered_off()) pf::power_off(seed, mode);
    }
    pf::restore_power();
    return a;
  }

  void check(const fs::path& dir, log_config cfg, const run_result& a, const std::string& where) {
    auto m = open_manager(dir);
    ASSERT_TRUE(m) << where;
    partition_log* log = open_log(*m, cfg);
    ASSERT_TRUE(log) << where;
    log_view v = view_of(*log);
    ASSERT_EQ(v.problem, "") << where;
    // The in-flight append may have landed whole: it counts as appended.
    record_map appended = a.appended;
    int64_t most = a.acked_end;
    for (const auto& k : a.in_flight) appended[most++] = k;
    EXPECT_GE(v.end, a.durable_end) << where << ": flushed records lost";
    // And everything below the recovery point the checkpoint names.
    if (auto text = read_small_file(dir / "recovery-point-offset-checkpoint")) {
      auto parsed = parse_offset_checkpoint(*text);
      ASSERT_TRUE(parsed.has_value()) << where << ": torn recovery-point-offset-checkpoint";
      if (parsed->contains(tp)) {
        EXPECT_GE(v.end, parsed->at(tp)) << where << ": below the checkpointed recovery point";
      }
    }
    EXPECT_LE(v.end, most) << where << ": an end past anything appended";
    EXPECT_GE(v.start, std::min(a.durable_start, v.end)) << where << ": the log start went back below a durable one";
    EXPECT_LE(v.start, a.max_start) << where << ": a log start never set";
    EXPECT_EQ(boundary_problem(*log), "") << where;
    EXPECT_EQ(latest_values_problem(appended, v), "") << where;
    // The log goes on from its end.
    std::mt19937_64 rng(1);
    uint64_t c = 1'000'000;
    std::vector<kv> recs;
    bytes more = keyed_batch(rng, 12, clk.now_ms(), c, recs);
    auto r = log->append(more, leader_epoch(2));
    ASSERT_TRUE(r.has_value()) << where;
    EXPECT_EQ(r->base_offset.value(), v.end) << where;
  }

  void random_cuts(log_config cfg, int steps, uint64_t seed_count, int points, int& cuts) {
    for (uint64_t seed : power_test::power_seeds(seed_count)) {
      uint64_t ops = 0;
      {
        scratch_dir tmp("count");
        const uint64_t before = pf::ops_seen();
        run(tmp.path, cfg, seed, pf::cut_mode::keep_all, std::nullopt, steps);
        ops = pf::ops_seen() - before;
      }
      std::mt19937_64 rng(seed);
      for (int p = 0; p <= points; ++p) {
        for (auto mode : {pf::cut_mode::drop_all, pf::cut_mode::random_tear, pf::cut_mode::keep_all}) {
          const std::optional<uint64_t> at = p == points ? std::nullopt : std::optional<uint64_t>(rng() % (ops + 1));
          scratch_dir tmp("cut");
          auto a = run(tmp.path, cfg, seed, mode, at, steps);
          const std::string where = fmt::format("{} {} cut {}", replay(seed), mode_names[int(mode)],
                                                at ? fmt::format("after {} ops", *at) : std::string("at the end"));
          check(tmp.path, cfg, a, where);
          ++cuts;
          if (HasFailure()) return;
        }
      }
    }
  }
};

TEST_F(compacted_log, without_flushes_keeps_everything_flushed_and_every_latest_value_with_no_hole) {
  int cuts = 0;
  random_cuts(compacted(INT64_MAX), 80, 25, 6, cuts);
  RecordProperty("cuts", cuts);
}

// The offsets topic's durable configuration: an acknowledged append survives any cut, compaction
// and retention running between appends.
TEST_F(compacted_log, with_flush_messages_1_every_acknowledged_record_survives_compaction_and_cuts) {
  int cuts = 0;
  random_cuts(compacted(1), 60, 20, 6, cuts);
  RecordProperty("cuts", cuts);
}

// ---- one operation, cut at each of its file operations ----

struct prepared {
  record_map appended;
  int64_t end = 0;
  std::map<int64_t, bytes> segments;  // base -> .log bytes
};

std::map<int64_t, bytes> segment_files(const fs::path& pdir) {
  std::map<int64_t, bytes> out;
  for (const auto& e : fs::directory_iterator(pdir)) {
    const auto name = e.path().filename().string();
    if (e.path().extension() != ".log" || name.size() != 24) continue;
    auto s = read_small_file(e.path(), size_t(1) << 30);
    bytes b = s ? bytes(s->begin(), s->end()) : bytes{};
    // Without the zeros an active direct-I/O segment is padded with to a block boundary.
    while (!b.empty() && b.back() == 0) b.pop_back();
    out[std::stoll(name.substr(0, 20))] = std::move(b);
  }
  return out;
}

std::vector<std::string> leftovers(const fs::path& pdir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(pdir)) {
    const auto name = e.path().filename().string();
    if (name.ends_with(".swap") || name.ends_with(".cleaned") || name.ends_with(".deleted")) out.push_back(name);
  }
  return out;
}

struct cleaner_retention_power : compaction_power {
  // Fills a log deterministically from `seed` (small segments, flushed, checkpointed) and closes
  // nothing: the caller runs one operation on it.
  prepared fill(log_manager& m, partition_log& log, uint64_t seed, int batches) {
    prepared p;
    std::mt19937_64 rng(seed);
    uint64_t counter = 0;
    for (int i = 0; i < batches; ++i) {
      std::vector<kv> recs;
      bytes b = keyed_batch(rng, 8, t0 + i * 10, counter, recs);
      auto r = log.append(b, leader_epoch(1));
      EXPECT_TRUE(r.has_value());
      if (!r) return p;
      int64_t o = r->base_offset.value();
      for (auto& k : recs) p.appended[o++] = std::move(k);
    }
    EXPECT_TRUE(log.flush().has_value());
    EXPECT_TRUE(m.checkpoint().has_value());
    p.end = log.log_end_offset().value();
    return p;
  }

  // Runs `op` on a freshly filled log in `dir`, the power going after `cut_after` operations.
  template <class Op>
  prepared run(const fs::path& dir, log_config cfg, uint64_t seed, std::optional<uint64_t> cut_after,
               pf::cut_mode mode, Op&& op, uint64_t* ops = nullptr) {
    prepared p;
    {
      auto m = open_manager(dir);
      EXPECT_TRUE(m);
      if (!m) return p;
      partition_log* log = open_log(*m, cfg);
      EXPECT_TRUE(log);
      if (!log) return p;
      p = fill(*m, *log, seed, 40);
      p.segments = segment_files(dir / partition_dir_name(tp));
      const uint64_t before = pf::ops_seen();
      if (cut_after) pf::arm_cut_after(*cut_after, seed, mode);
      op(*m, *log);
      if (ops) *ops = pf::ops_seen() - before;
      if (!pf::powered_off()) pf::power_off(seed, mode);
    }
    pf::restore_power();
    return p;
  }
};

TEST_F(cleaner_retention_power, a_cleaner_pass_cut_at_every_step_leaves_each_segment_old_or_new) {
  log_config cfg = compacted(INT64_MAX);
  int cuts = 0;
  for (uint64_t seed : power_test::power_seeds(6)) {
    // The reference: the pass without a cut, its outcome per segment.
    uint64_t ops = 0;
    std::map<int64_t, bytes> after;
    prepared p;
    {
      scratch_dir tmp("ref");
      bool done = false;
      p = run(tmp.path, cfg, seed, std::nullopt, pf::cut_mode::keep_all,
              [&](log_manager& m, partition_log& log) {
                auto c = log.compact(clk.now_ms(), /*force=*/true);
                done = c && c->segments_cleaned > 0 && m.checkpoint();
              }, &ops);
      ASSERT_TRUE(done) << replay(seed) << ": the pass cleaned nothing";
      after = segment_files(tmp.path / partition_dir_name(tp));
    }
    ASSERT_GT(ops, 4u);
    for (uint64_t at = 0; at <= ops; ++at) {
      for (auto mode : {pf::cut_mode::drop_all, pf::cut_mode::random_tear}) {
        scratch_dir tmp("swap");
        bool compacted_ok = false;
        run(tmp.path, cfg, seed, at, mode, [&](log_manager& m, partition_log& log) {
          compacted_ok = log.compact(clk.now_ms(), true).has_value();
          (void)m.checkpoint();
        });
        const std::string where = fmt::format("{} {} cut after {} of {} ops", replay(seed), mode_names[int(mode)], at, ops);
        auto m = open_manager(tmp.path);
        ASSERT_TRUE(m) << where;
        partition_log* log = open_log(*m, cfg);
        ASSERT_TRUE(log) << where;
        const fs::path pdir = tmp.path / partition_dir_name(tp);
        EXPECT_EQ(leftovers(pdir), std::vector<std::string>{}) << where << ": half-swapped files left";
        auto now = segment_files(pdir);
        EXPECT_EQ(now.size(), p.segments.size()) << where;
        for (const auto& [base, content] : now) {
          const bool old_one = p.segments.contains(base) && p.segments.at(base) == content;
          const bool new_one = after.contains(base) && after.at(base) == content;
          EXPECT_TRUE(old_one || new_one) << where << ": segment " << base << " is neither before nor after";
          if (compacted_ok) {
            EXPECT_TRUE(new_one) << where << ": segment " << base << " lost its completed swap";
          }
        }
        log_view v = view_of(*log);
        ASSERT_EQ(v.problem, "") << where;
        EXPECT_EQ(v.end, p.end) << where << ": flushed records lost or invented";
        EXPECT_EQ(boundary_problem(*log), "") << where;
        EXPECT_EQ(latest_values_problem(p.appended, v), "") << where;
        ++cuts;
        if (HasFailure()) return;
      }
    }
  }
  RecordProperty("cuts", cuts);
}

TEST_F(cleaner_retention_power, retention_and_delete_records_cut_at_every_step_keep_a_suffix_and_a_durable_start) {
  log_config cfg = compacted(INT64_MAX);
  cfg.compact = false;
  cfg.delete_enabled = true;
  int cuts = 0;
  for (uint64_t seed : power_test::power_seeds(6)) {
    // DeleteRecords into the middle of the log, a retention pass that drops the segments below
    // it, the deleted files removed, then a checkpoint.
    int64_t target = 0, start_after = 0;
    uint64_t ops = 0;
    prepared p;
    auto op = [&](log_manager& m, partition_log& log, bool& deleted, bool& checkpointed) {
      const auto bases = log.segment_base_offsets();
      target = bases[bases.size() / 2] + 1;  // just inside a segment
      deleted = log.advance_log_start_offset(offset(target), clk.now_ms()).has_value();
      deleted = deleted && log.enforce_retention(clk.now_ms()).has_value();
      // The directory fsync after the renames and the leader-epoch checkpoint run on the
      // background thread: the deletions are durable once it has run them with the power on.
      m.wait_for_deletions();
      deleted = deleted && !pf::powered_off();
      log.remove_deleted_files(clk.now_ms(), true);
      checkpointed = deleted && m.checkpoint().has_value();
      start_after = log.log_start_offset().value();
    };
    {
      scratch_dir tmp("ref");
      bool d = false, c = false;
      p = run(tmp.path, cfg, seed, std::nullopt, pf::cut_mode::keep_all,
              [&](log_manager& m, partition_log& log) { op(m, log, d, c); }, &ops);
      ASSERT_TRUE(d && c) << replay(seed);
      ASSERT_EQ(start_after, target) << replay(seed);
    }
    for (uint64_t at = 0; at <= ops; ++at) {
      for (auto mode : {pf::cut_mode::drop_all, pf::cut_mode::random_tear}) {
        scratch_dir tmp("ret");
        bool deleted = false, checkpointed = false;
        run(tmp.path, cfg, seed, at, mode,
            [&](log_manager& m, partition_log& log) { op(m, log, deleted, checkpointed); });
        const std::string where = fmt::format("{} {} cut after {} of {} ops", replay(seed), mode_names[int(mode)], at, ops);
        auto m = open_manager(tmp.path);
        ASSERT_TRUE(m) << where;
        partition_log* log = open_log(*m, cfg);
        ASSERT_TRUE(log) << where;
        const fs::path pdir = tmp.path / partition_dir_name(tp);
        EXPECT_EQ(leftovers(pdir), std::vector<std::string>{}) << where;
        // The segments left are a suffix of the old ones, each whole.
        auto now = segment_files(pdir);
        ASSERT_FALSE(now.empty()) << where;
        auto it = p.segments.find(now.begin()->first);
        ASSERT_NE(it, p.segments.end()) << where << ": unknown segment " << now.begin()->first;
        EXPECT_EQ(size_t(std::distance(it, p.segments.end())), now.size()) << where << ": not a suffix";
        for (const auto& [base, content] : now) {
          EXPECT_TRUE(p.segments.contains(base) && p.segments.at(base) == content) << where << ": segment " << base;
        }
        const int64_t start = log->log_start_offset().value();
        EXPECT_LE(start, target) << where << ": the log start moved past anything asked";
        if (deleted) {
          // A completed retention pass (its background work done) synced the deletions: those
          // segments stay gone.
          EXPECT_GT(now.begin()->first, 0) << where << ": deleted segments came back";
        }
        if (checkpointed) {
          EXPECT_EQ(start, target) << where << ": a checkpointed log start went back";
        }
        log_view v = view_of(*log);
        ASSERT_EQ(v.problem, "") << where;
        EXPECT_EQ(v.end, p.end) << where;
        for (auto r = p.appended.lower_bound(start); r != p.appended.end(); ++r) {
          auto g = v.records.find(r->first);
          EXPECT_TRUE(g != v.records.end() && g->second == r->second) << where << ": offset " << r->first;
          if (HasFailure()) break;
        }
        ++cuts;
        if (HasFailure()) return;
      }
    }
  }
  RecordProperty("cuts", cuts);
}

}  // namespace
}  // namespace gregor::storage
