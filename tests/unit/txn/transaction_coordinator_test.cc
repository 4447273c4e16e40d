#include "gregor/txn/transaction_coordinator.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

namespace gregor::txn {
namespace {

using protocol::error_code;

struct fixture {
  int64_t next_pid = 1000;
  bool pids_available = true;
  transaction_coordinator c{coordinator_settings{60000, 3600000}, [this]() -> std::optional<int64_t> {
                              if (!pids_available) return std::nullopt;
                              return next_pid++;
                            }};
  int64_t now = 1'000'000;
  uint64_t ticket = 1;

  // Completes every queued write with `e`; returns the outbox the completions produced.
  outbox settle(error_code e = error_code::none) {
    outbox all;
    for (int round = 0; round < 10; ++round) {
      outbox o = c.take_outbox();
      all.replies.insert(all.replies.end(), o.replies.begin(), o.replies.end());
      all.markers.insert(all.markers.end(), o.markers.begin(), o.markers.end());
      all.writes.insert(all.writes.end(), o.writes.begin(), o.writes.end());
      if (o.writes.empty()) break;
      for (const auto& w : o.writes) c.write_completed(w.write_id, e, now);
    }
    return all;
  }

  reply only_reply(const outbox& o, uint64_t t) {
    std::optional<reply> found;
    for (const auto& [tk, r] : o.replies)
      if (tk == t) {
        EXPECT_FALSE(found) << "ticket " << t << " answered twice";
        found = r;
      }
    EXPECT_TRUE(found) << "ticket " << t << " not answered";
    return found.value_or(reply{error_code::unknown_server_error});
  }

  reply init(const std::string& id, int32_t timeout = 30000, int64_t epid = -1, int16_t eepoch = -1) {
    const uint64_t t = ticket++;
    c.init_producer_id(t, init_input{id, 3, timeout, epid, eepoch}, now);
    return only_reply(settle(), t);
  }
  reply add(const std::string& id, const reply& p, txn_partitions parts, int16_t tv = 1) {
    const uint64_t t = ticket++;
    c.add_partitions(t, add_input{id, p.producer_id, p.producer_epoch, std::move(parts), tv}, now);
    return only_reply(settle(), t);
  }
  // Ends the transaction; with `markers`, also reports its markers written and settles the
  // completion.
  reply end(const std::string& id, const reply& p, bool commit, int16_t tv = 1, bool markers = true,
            std::vector<marker_job>* jobs = nullptr) {
    const uint64_t t = ticket++;
    c.end_txn(t, end_input{id, p.producer_id, p.producer_epoch, commit, tv}, now);
    outbox o = settle();
    const reply r = only_reply(o, t);
    if (jobs) *jobs = o.markers;
    if (markers)
      for (const auto& m : o.markers) {
        c.markers_completed(m.transactional_id, now);
        settle();
      }
    return r;
  }
  txn_state state(const std::string& id) { return c.describe(id).value().value.state; }
};

TEST(transaction_log, value_v0_has_kafkas_layout) {
  txn_value v;
  v.producer_id = 7;
  v.producer_epoch = 2;
  v.timeout_ms = 60000;
  v.state = txn_state::ongoing;
  v.partitions["t"] = {0, 1};
  v.last_update_ms = 5;
  v.start_ms = 4;
  const std::vector<uint8_t> want = {
      0, 0,                          // version 0
      0, 0, 0, 0, 0, 0, 0, 7,        // ProducerId
      0, 2,                          // ProducerEpoch
      0, 0, 0xea, 0x60,              // TransactionTimeoutMs
      1,                             // TransactionStatus Ongoing
      0, 0, 0, 1, 0, 1, 't',         // [Topic "t"
      0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1,  //  PartitionIds [0, 1]]
      0, 0, 0, 0, 0, 0, 0, 5,        // TransactionLastUpdateTimestampMs
      0, 0, 0, 0, 0, 0, 0, 4,        // TransactionStartTimestampMs
  };
  EXPECT_EQ(encode_txn_value(v), want);
  EXPECT_EQ(decode_txn_value(want), v);
  EXPECT_EQ(encode_txn_key("tx"), (std::vector<uint8_t>{0, 0, 0, 2, 't', 'x'}));
  EXPECT_EQ(decode_txn_key(encode_txn_key("tx")), "tx");
}

TEST(transaction_log, value_v1_is_flexible_with_tagged_fields_and_round_trips) {
  txn_value v;
  v.producer_id = 9;
  v.previous_producer_id = 8;
  v.producer_epoch = 0;
  v.timeout_ms = 1000;
  v.state = txn_state::prepare_commit;
  v.partitions["a"] = {3};
  v.partitions["b"] = {0, 2};
  v.last_update_ms = 11;
  v.start_ms = 10;
  v.client_transaction_version = 2;
  auto bytes = encode_txn_value(v);
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[1], 1);  // version 1 for TV2 clients
  EXPECT_EQ(decode_txn_value(bytes), v);
  txn_value empty;
  empty.producer_id = 1;
  empty.producer_epoch = 0;
  auto e = encode_txn_value(empty);
  EXPECT_EQ(decode_txn_value(e), empty);
  bytes.push_back(0);  // trailing garbage
  EXPECT_FALSE(decode_txn_value(bytes));
  EXPECT_FALSE(decode_txn_value(std::vector<uint8_t>{0, 2}));  // unknown version
  EXPECT_EQ(state_name(txn_state::complete_abort), "CompleteAbort");
  EXPECT_EQ(state_from_name("PrepareEpochFence"), txn_state::prepare_epoch_fence);
}

TEST(transaction_coordinator, init_allocates_an_id_then_bumps_its_epoch) {
  fixture f;
  auto r = f.init("tx");
  EXPECT_EQ(r.error, error_code::none);
  EXPECT_EQ(r.producer_id, 1000);
  EXPECT_EQ(r.producer_epoch, 0);
  auto r2 = f.init("tx");
  EXPECT_EQ(r2.producer_id, 1000);
  EXPECT_EQ(r2.producer_epoch, 1);
  EXPECT_EQ(f.state("tx"), txn_state::empty);
  EXPECT_EQ(f.init("tx", 0).error, error_code::invalid_transaction_timeout);
  EXPECT_EQ(f.init("tx", 60001).error, error_code::invalid_transaction_timeout);
  f.pids_available = false;
  EXPECT_EQ(f.init("other").error, error_code::coordinator_load_in_progress);
}

TEST(transaction_coordinator, a_commit_writes_prepare_then_markers_then_complete) {
  fixture f;
  auto p = f.init("tx");
  EXPECT_EQ(f.add("tx", p, {{"t", {0}}}).error, error_code::none);
  EXPECT_EQ(f.state("tx"), txn_state::ongoing);
  // Already part of the transaction: answered at once, nothing written.
  const uint64_t t = f.ticket++;
  f.c.add_partitions(t, add_input{"tx", p.producer_id, p.producer_epoch, {{"t", {0}}}, 1}, f.now);
  auto o = f.c.take_outbox();
  EXPECT_TRUE(o.writes.empty());
  EXPECT_EQ(f.only_reply(o, t).error, error_code::none);
  EXPECT_EQ(f.add("tx", p, {{"u", {1, 2}}}).error, error_code::none);

  const uint64_t e = f.ticket++;
  f.c.end_txn(e, end_input{"tx", p.producer_id, p.producer_epoch, true, 1}, f.now);
  o = f.c.take_outbox();
  ASSERT_EQ(o.writes.size(), 1u);
  EXPECT_EQ(o.writes[0].value->state, txn_state::prepare_commit);
  EXPECT_EQ(o.writes[0].partition, 3);
  EXPECT_TRUE(o.replies.empty()) << "EndTxn answered before PrepareCommit is written";
  // Meanwhile the transactional id is busy.
  const uint64_t busy = f.ticket++;
  f.c.add_partitions(busy, add_input{"tx", p.producer_id, p.producer_epoch, {{"v", {0}}}, 1}, f.now);
  EXPECT_EQ(f.only_reply(f.c.take_outbox(), busy).error, error_code::concurrent_transactions);

  f.c.write_completed(o.writes[0].write_id, error_code::none, f.now);
  o = f.c.take_outbox();
  EXPECT_EQ(f.only_reply(o, e).error, error_code::none);
  ASSERT_EQ(o.markers.size(), 1u);
  EXPECT_TRUE(o.markers[0].commit);
  EXPECT_EQ(o.markers[0].producer_epoch, p.producer_epoch);
  EXPECT_EQ(o.markers[0].partitions, (txn_partitions{{"t", {0}}, {"u", {1, 2}}}));
  EXPECT_TRUE(o.writes.empty());
  EXPECT_EQ(f.state("tx"), txn_state::prepare_commit);

  f.c.markers_completed("tx", f.now);
  o = f.c.take_outbox();
  ASSERT_EQ(o.writes.size(), 1u);
  EXPECT_EQ(o.writes[0].value->state, txn_state::complete_commit);
  EXPECT_TRUE(o.writes[0].value->partitions.empty());
  f.c.write_completed(o.writes[0].write_id, error_code::none, f.now);
  EXPECT_EQ(f.state("tx"), txn_state::complete_commit);
  // A retried EndTxn(commit) of a TV1 client succeeds; an abort now is invalid.
  EXPECT_EQ(f.end("tx", p, true).error, error_code::none);
  EXPECT_EQ(f.end("tx", p, false).error, error_code::invalid_txn_state);
  // The next transaction starts from CompleteCommit.
  EXPECT_EQ(f.add("tx", p, {{"t", {1}}}).error, error_code::none);
  EXPECT_EQ(f.c.describe("tx")->value.partitions, (txn_partitions{{"t", {1}}}));
}

TEST(transaction_coordinator, producer_checks_come_first) {
  fixture f;
  auto p = f.init("tx");
  EXPECT_EQ(f.add("nope", p, {{"t", {0}}}).error, error_code::invalid_producer_id_mapping);
  EXPECT_EQ(f.add("tx", reply{error_code::none, p.producer_id + 1, p.producer_epoch}, {{"t", {0}}}).error,
            error_code::invalid_producer_id_mapping);
  EXPECT_EQ(f.add("tx", reply{error_code::none, p.producer_id, int16_t(p.producer_epoch + 1)}, {{"t", {0}}}).error,
            error_code::producer_fenced);
  EXPECT_EQ(f.end("tx", p, true).error, error_code::invalid_txn_state) << "TV1 EndTxn with nothing added";
}

TEST(transaction_coordinator, a_new_instance_fences_the_old_one_by_aborting_its_open_transaction) {
  fixture f;
  auto old = f.init("tx");
  ASSERT_EQ(f.add("tx", old, {{"t", {0}}}).error, error_code::none);
  const uint64_t t = f.ticket++;
  f.c.init_producer_id(t, init_input{"tx", 3, 30000, -1, -1}, f.now);
  auto o = f.c.take_outbox();
  EXPECT_EQ(f.only_reply(o, t).error, error_code::concurrent_transactions);
  ASSERT_EQ(o.writes.size(), 1u);
  EXPECT_EQ(o.writes[0].value->state, txn_state::prepare_abort);
  EXPECT_EQ(o.writes[0].value->producer_epoch, old.producer_epoch + 1) << "the abort fences the old epoch";
  f.c.write_completed(o.writes[0].write_id, error_code::none, f.now);
  o = f.c.take_outbox();
  ASSERT_EQ(o.markers.size(), 1u);
  EXPECT_FALSE(o.markers[0].commit);
  EXPECT_EQ(o.markers[0].producer_epoch, old.producer_epoch + 1);
  // The old instance can no longer commit.
  EXPECT_EQ(f.end("tx", old, true).error, error_code::producer_fenced);
  // The new instance retries while the abort completes, then gets the next epoch.
  EXPECT_EQ(f.init("tx").error, error_code::concurrent_transactions);
  f.c.markers_completed("tx", f.now);
  f.settle();
  EXPECT_EQ(f.state("tx"), txn_state::complete_abort);
  auto fresh = f.init("tx");
  EXPECT_EQ(fresh.error, error_code::none);
  EXPECT_EQ(fresh.producer_id, old.producer_id);
  EXPECT_EQ(fresh.producer_epoch, old.producer_epoch + 2);
}

TEST(transaction_coordinator, a_transaction_open_past_its_timeout_is_aborted_and_its_producer_fenced) {
  fixture f;
  auto p = f.init("tx", 1000);
  ASSERT_EQ(f.add("tx", p, {{"t", {0}}}).error, error_code::none);
  f.now += 1000;
  f.c.tick(f.now);
  EXPECT_TRUE(f.c.take_outbox().writes.empty()) << "aborted at, not after, its timeout";
  f.now += 1;
  f.c.tick(f.now);
  auto o = f.settle();
  ASSERT_EQ(o.markers.size(), 1u);
  EXPECT_FALSE(o.markers[0].commit);
  f.c.markers_completed("tx", f.now);
  f.settle();
  EXPECT_EQ(f.state("tx"), txn_state::complete_abort);
  EXPECT_EQ(f.end("tx", p, true).error, error_code::producer_fenced);
}

TEST(transaction_coordinator, idle_transactional_ids_expire_with_a_tombstone) {
  fixture f;
  f.init("tx");
  f.now += 3600001;
  f.c.tick(f.now);
  auto o = f.c.take_outbox();
  ASSERT_EQ(o.writes.size(), 1u);
  EXPECT_FALSE(o.writes[0].value) << "a tombstone";
  EXPECT_TRUE(f.c.describe("tx"));
  f.c.write_completed(o.writes[0].write_id, error_code::none, f.now);
  EXPECT_FALSE(f.c.describe("tx"));
}

TEST(transaction_coordinator, a_failed_write_answers_its_error_and_changes_nothing) {
  fixture f;
  auto p = f.init("tx");
  const uint64_t t = f.ticket++;
  f.c.add_partitions(t, add_input{"tx", p.producer_id, p.producer_epoch, {{"t", {0}}}, 1}, f.now);
  auto o = f.settle(error_code::not_enough_replicas);
  EXPECT_EQ(f.only_reply(o, t).error, error_code::not_enough_replicas);
  EXPECT_EQ(f.state("tx"), txn_state::empty);
  EXPECT_EQ(f.add("tx", p, {{"t", {0}}}).error, error_code::none);
}

TEST(transaction_coordinator, unloading_answers_not_coordinator_and_loading_resumes_markers) {
  fixture f;
  auto p = f.init("tx");
  ASSERT_EQ(f.add("tx", p, {{"t", {0}}}).error, error_code::none);
  const uint64_t t = f.ticket++;
  f.c.end_txn(t, end_input{"tx", p.producer_id, p.producer_epoch, true, 1}, f.now);
  auto o = f.c.take_outbox();
  ASSERT_EQ(o.writes.size(), 1u);
  const txn_value prepared = *o.writes[0].value;
  f.c.unload(3);
  auto after = f.c.take_outbox();
  EXPECT_EQ(f.only_reply(after, t).error, error_code::not_coordinator);
  EXPECT_FALSE(f.c.describe("tx"));
  f.c.write_completed(o.writes[0].write_id, error_code::none, f.now);  // late: ignored
  EXPECT_TRUE(f.c.take_outbox().empty());

  // A new coordinator loads the partition (where PrepareCommit did commit) and finishes the job.
  transaction_coordinator other({}, [] { return std::optional<int64_t>(5); });
  other.load(3, "tx", txn_value{});
  other.load(3, "tx", prepared);
  other.load(3, "gone", txn_value{});
  other.load(3, "gone", std::nullopt);
  other.finish_loading(3);
  o = other.take_outbox();
  ASSERT_EQ(o.markers.size(), 1u);
  EXPECT_TRUE(o.markers[0].commit);
  EXPECT_FALSE(other.describe("gone"));
  other.markers_completed("tx", f.now);
  o = other.take_outbox();
  ASSERT_EQ(o.writes.size(), 1u);
  EXPECT_EQ(o.writes[0].value->state, txn_state::complete_commit);
}

TEST(transaction_coordinator, transaction_version_2_bumps_the_epoch_at_every_end_and_accepts_retries) {
  fixture f;
  auto p = f.init("tx");
  ASSERT_EQ(f.add("tx", p, {{"t", {0}}}, 2).error, error_code::none);
  auto r = f.end("tx", p, true, 2);
  EXPECT_EQ(r.error, error_code::none);
  EXPECT_EQ(r.producer_id, p.producer_id);
  EXPECT_EQ(r.producer_epoch, p.producer_epoch + 1);
  // A retry with the old epoch gets the same answer; an abort with it is fenced.
  auto again = f.end("tx", p, true, 2);
  EXPECT_EQ(again.error, error_code::none);
  EXPECT_EQ(again.producer_epoch, r.producer_epoch);
  EXPECT_EQ(f.end("tx", p, false, 2).error, error_code::producer_fenced);
  EXPECT_EQ(f.end("tx", r, true, 2).error, error_code::invalid_txn_state) << "a commit with nothing added";
  // TV2 may abort when nothing was added since.
  auto aborted = f.end("tx", r, false, 2);
  EXPECT_EQ(aborted.error, error_code::none);
  EXPECT_EQ(aborted.producer_epoch, r.producer_epoch + 1);
  EXPECT_EQ(f.state("tx"), txn_state::complete_abort);
  // The value is written in version 1 (flexible) for TV2.
  EXPECT_EQ(f.c.describe("tx")->value.client_transaction_version, 2);
}

TEST(transaction_coordinator, kip360_expected_epochs) {
  fixture f;
  auto p = f.init("tx");
  auto bumped = f.init("tx", 30000, p.producer_id, p.producer_epoch);
  EXPECT_EQ(bumped.producer_epoch, p.producer_epoch + 1);
  // A retry naming the epoch before the bump gets the current epoch again.
  auto retry = f.init("tx", 30000, p.producer_id, p.producer_epoch);
  EXPECT_EQ(retry.error, error_code::none);
  EXPECT_EQ(retry.producer_epoch, bumped.producer_epoch);
  EXPECT_EQ(f.init("tx", 30000, p.producer_id, int16_t(bumped.producer_epoch + 5)).error, error_code::producer_fenced);
  EXPECT_EQ(f.init("tx", 30000, p.producer_id + 7, 0).error, error_code::producer_fenced);
}

TEST(transaction_coordinator, an_exhausted_epoch_rotates_the_producer_id) {
  fixture f;
  f.c.load(3, "tx", txn_value{1, -1, -1, 32766, -1, 30000, txn_state::complete_commit, {}, 0, 0, 2});
  auto r = f.init("tx");
  EXPECT_EQ(r.error, error_code::none);
  EXPECT_EQ(r.producer_id, 1000);
  EXPECT_EQ(r.producer_epoch, 0);
  EXPECT_EQ(f.c.describe("tx")->value.previous_producer_id, 1);

  f.c.load(3, "tv2", txn_value{2, -1, -1, 32766, -1, 30000, txn_state::ongoing, {{"t", {0}}}, 0, 0, 2});
  auto e = f.end("tv2", reply{error_code::none, 2, 32766}, true, 2);
  EXPECT_EQ(e.error, error_code::none);
  EXPECT_EQ(e.producer_id, 1001);
  EXPECT_EQ(e.producer_epoch, 0);
  EXPECT_EQ(f.c.describe("tv2")->value.producer_id, 1001);
  EXPECT_EQ(f.c.describe("tv2")->value.previous_producer_id, 2);
}

TEST(transaction_coordinator, verify_only_accepts_partitions_of_the_ongoing_transaction) {
  fixture f;
  auto p = f.init("tx");
  EXPECT_EQ(f.c.verify("tx", p.producer_id, p.producer_epoch, {{"t", {0}}}), error_code::invalid_txn_state);
  ASSERT_EQ(f.add("tx", p, {{"t", {0}}}).error, error_code::none);
  EXPECT_EQ(f.c.verify("tx", p.producer_id, p.producer_epoch, {{"t", {0}}}), error_code::none);
  EXPECT_EQ(f.c.verify("tx", p.producer_id, p.producer_epoch, {{"t", {1}}}), error_code::invalid_txn_state);
  EXPECT_EQ(f.c.verify("tx", p.producer_id, int16_t(p.producer_epoch - 1), {{"t", {0}}}), error_code::producer_fenced);
  EXPECT_EQ(f.c.verify("zz", p.producer_id, p.producer_epoch, {{"t", {0}}}), error_code::invalid_producer_id_mapping);
}

// Seeded random runs: random requests, write outcomes, marker completions, timer ticks, unloads
// and reloads from the written log. Checks that every ticket is answered exactly once, that the
// state a reload rebuilds equals the coordinator's, that a producer id's epoch never goes down,
// and that a transaction only completes the way it was prepared. A failure prints its seed;
// GREGOR_TXN_SEED=<seed> replays it.
void run_seed(uint64_t seed) {
  SCOPED_TRACE("txn coordinator seed " + std::to_string(seed) + " (replay: GREGOR_TXN_SEED=" + std::to_string(seed) + ")");
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) { return uint64_t(rng() % n); };
  int64_t next_pid = 1;
  auto ids = [&]() -> std::optional<int64_t> { return next_pid++; };
  transaction_coordinator c({60000, 500000}, ids);
  int64_t now = 0;
  uint64_t next_ticket = 1;
  std::map<uint64_t, int> answered;
  std::set<uint64_t> issued;
  std::map<std::string, std::optional<txn_value>> log;  // committed records, last per id
  std::map<std::string, reply> producers;               // what each client last got
  std::vector<write_request> in_flight;
  std::vector<marker_job> jobs;
  std::map<int64_t, int16_t> max_epoch;
  const std::vector<std::string> names = {"a", "b", "c"};

  auto drain = [&] {
    outbox o = c.take_outbox();
    for (auto& w : o.writes) in_flight.push_back(w);
    for (auto& m : o.markers) jobs.push_back(m);
    for (auto& [t, r] : o.replies) {
      ++answered[t];
      EXPECT_TRUE(issued.contains(t)) << "ticket " << t << " was never issued";
    }
  };
  for (int step = 0; step < 400; ++step) {
    now += int64_t(pick(3000));
    const std::string& id = names[pick(names.size())];
    const uint64_t t = next_ticket++;
    bool asked = true;
    switch (pick(9)) {
      case 0:
        c.init_producer_id(t, init_input{id, 0, 20000, -1, -1}, now);
        break;
      case 1:
      case 2: {
        auto it = producers.find(id);
        reply p = it == producers.end() ? reply{} : it->second;
        c.add_partitions(t, add_input{id, p.producer_id, p.producer_epoch, {{"t", {int32_t(pick(3))}}}, int16_t(1 + pick(2))}, now);
        break;
      }
      case 3: {
        auto it = producers.find(id);
        reply p = it == producers.end() ? reply{} : it->second;
        c.end_txn(t, end_input{id, p.producer_id, p.producer_epoch, pick(2) == 0, int16_t(1 + pick(2))}, now);
        break;
      }
      case 4:
      case 5:
        asked = false;
        if (!in_flight.empty()) {
          const size_t i = pick(in_flight.size());
          write_request w = in_flight[i];
          in_flight.erase(in_flight.begin() + long(i));
          const bool ok = pick(5) != 0;
          if (ok) log[w.transactional_id] = w.value;
          c.write_completed(w.write_id, ok ? error_code::none : error_code::not_enough_replicas, now);
        }
        break;
      case 6:
        asked = false;
        if (!jobs.empty()) {
          const size_t i = pick(jobs.size());
          const std::string jid = jobs[i].transactional_id;
          jobs.erase(jobs.begin() + long(i));
          c.markers_completed(jid, now);
        }
        break;
      case 7:
        asked = false;
        c.tick(now);
        break;
      case 8:
        asked = false;
        if (pick(4) == 0) {
          // Failover: unload, forget what was in flight, reload from the log.
          c.unload(0);
          drain();
          in_flight.clear();
          jobs.clear();
          for (const auto& [lid, v] : log) c.load(0, lid, v);
          c.finish_loading(0);
        }
        break;
    }
    if (asked) issued.insert(t);
    drain();
    if (::testing::Test::HasFailure()) return;
    for (const auto& n : names)
      if (auto d = c.describe(n)) {
        // What the client would use next: the coordinator's current producer id and epoch.
        if (pick(3) == 0 && !d->pending) producers[n] = reply{error_code::none, d->value.producer_id, d->value.producer_epoch};
        auto [it, fresh] = max_epoch.try_emplace(d->value.producer_id, d->value.producer_epoch);
        ASSERT_GE(d->value.producer_epoch, it->second) << "epoch of producer " << d->value.producer_id << " went down";
        it->second = d->value.producer_epoch;
        // Nothing pending: the coordinator's state is the committed record.
        if (!d->pending) {
          auto l = log.find(n);
          if (l != log.end() && l->second) {
            ASSERT_EQ(*l->second, d->value) << n << " differs from its record";
          }
        }
      }
  }
  // Drain: every write succeeds, every marker job completes; every ticket is then answered.
  for (int round = 0; round < 50 && (!in_flight.empty() || !jobs.empty()); ++round) {
    auto writes = std::move(in_flight);
    in_flight.clear();
    for (auto& w : writes) {
      log[w.transactional_id] = w.value;
      c.write_completed(w.write_id, error_code::none, now);
    }
    auto js = std::move(jobs);
    jobs.clear();
    for (auto& j : js) c.markers_completed(j.transactional_id, now);
    drain();
  }
  for (uint64_t t : issued) ASSERT_EQ(answered[t], 1) << "ticket " << t << " answered " << answered[t] << " times";
  for (const auto& n : names)
    if (auto d = c.describe(n)) {
      EXPECT_FALSE(d->pending);
      EXPECT_NE(d->value.state, txn_state::prepare_commit);
      EXPECT_NE(d->value.state, txn_state::prepare_abort);
    }
}

TEST(transaction_coordinator_sim, seeded_random_runs_keep_the_invariants) {
  if (const char* s = std::getenv("GREGOR_TXN_SEED")) {
    run_seed(std::strtoull(s, nullptr, 10));
    return;
  }
  for (uint64_t seed = 1; seed <= 300 && !HasFailure(); ++seed) run_seed(seed);
}

}  // namespace
}  // namespace gregor::txn
