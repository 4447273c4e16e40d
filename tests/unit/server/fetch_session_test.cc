// Proves the KIP-227 fetch session cache follows Kafka's rules: which requests create, continue,
// close or fail a session, what an incremental answer leaves out, and which sessions eviction picks.
#include <gtest/gtest.h>

#include "../../../src/server/fetch_session.h"

namespace gregor::server {
namespace {
using kind = fetch_session_cache::context::kind;
using protocol::error_code;

fetch_partition_params part(const std::string& topic, int32_t p, int64_t offset = 0) {
  fetch_partition_params out;
  out.key.topic = topic;
  out.key.partition = p;
  out.fetch_offset = offset;
  out.max_bytes = 1 << 20;
  return out;
}

fetch_partition_outcome quiet(int64_t hw, int64_t log_start = 0) {
  fetch_partition_outcome o;
  o.high_watermark = hw;
  o.log_start_offset = log_start;
  return o;
}

fetch_partition_outcome with_records(int64_t hw) {
  auto o = quiet(hw);
  o.has_records = true;
  return o;
}

// A full request for `parts` answered with hw 10 everywhere; returns the new session id.
int32_t create(fetch_session_cache& cache, std::vector<fetch_partition_params> parts, bool privileged = false,
               int64_t now_ms = 0, int16_t version = 12) {
  auto ctx = cache.open(version, 0, 0, privileged, std::move(parts), {}, now_ms);
  EXPECT_EQ(ctx.what, kind::full);
  std::vector<fetch_partition_outcome> out(ctx.partitions.size(), quiet(10));
  std::vector<bool> keep;
  return cache.finish(ctx, out, keep, now_ms);
}

TEST(fetch_session_cache, full_request_with_epoch_zero_creates_a_session_with_its_partitions) {
  fetch_session_cache cache(10, 120000, 1);
  const int32_t id = create(cache, {part("a", 0), part("a", 1), part("b", 0)});
  ASSERT_NE(id, 0);
  const auto* s = cache.find(id);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->size(), 3u);
  EXPECT_EQ(s->epoch(), 1);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.partitions_cached(), 3u);
  EXPECT_EQ(cache.created(), 1u);
}

TEST(fetch_session_cache, final_epoch_and_old_versions_are_sessionless) {
  fetch_session_cache cache(10, 120000, 1);
  auto ctx = cache.open(12, 0, -1, false, {part("a", 0)}, {}, 0);
  EXPECT_EQ(ctx.what, kind::sessionless);
  std::vector<bool> keep;
  EXPECT_EQ(cache.finish(ctx, std::vector<fetch_partition_outcome>{quiet(1)}, keep, 0), 0);
  auto legacy = cache.open(6, 0, -1, false, {part("a", 0)}, {}, 0);
  EXPECT_EQ(legacy.what, kind::sessionless);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(fetch_session_cache, incremental_request_reads_every_session_partition_and_answers_only_changes) {
  fetch_session_cache cache(10, 120000, 1);
  const int32_t id = create(cache, {part("a", 0), part("a", 1), part("b", 0)});
  // Nothing sent (no change on the fetcher's side): all three are read.
  auto ctx = cache.open(12, id, 1, false, {}, {}, 5);
  ASSERT_EQ(ctx.what, kind::incremental);
  ASSERT_EQ(ctx.partitions.size(), 3u);
  // a-1 has records, b-0 a new high watermark, a-0 nothing new.
  std::vector<fetch_partition_outcome> out{quiet(10), with_records(10), quiet(11)};
  std::vector<bool> keep;
  EXPECT_EQ(cache.finish(ctx, out, keep, 5), id);
  EXPECT_EQ(keep, (std::vector<bool>{false, true, true}));
  // Answered partitions move to the end of the read order.
  auto next = cache.open(12, id, 2, false, {}, {}, 6);
  ASSERT_EQ(next.partitions.size(), 3u);
  EXPECT_EQ(next.partitions[0].key, part("a", 0).key);
  EXPECT_EQ(next.partitions[1].key, part("a", 1).key);
  EXPECT_EQ(next.partitions[2].key, part("b", 0).key);
  // The same answer again: the high watermark of b-0 is now known, so only records count.
  std::vector<fetch_partition_outcome> again{quiet(10), quiet(10), quiet(11)};
  cache.finish(next, again, keep, 6);
  EXPECT_EQ(keep, (std::vector<bool>{false, false, false}));
}

TEST(fetch_session_cache, log_start_offset_errors_diverging_epochs_and_preferred_replicas_are_always_sent) {
  fetch_session_cache cache(10, 120000, 1);
  const int32_t id = create(cache, {part("a", 0), part("a", 1), part("a", 2), part("a", 3)});
  auto ctx = cache.open(12, id, 1, false, {}, {}, 1);
  std::vector<fetch_partition_outcome> out(4, quiet(10));
  out[0].log_start_offset = 3;
  out[1].error = true;
  out[2].diverging_epoch = true;
  out[3].preferred_read_replica = true;
  std::vector<bool> keep;
  cache.finish(ctx, out, keep, 1);
  EXPECT_EQ(keep, (std::vector<bool>{true, true, true, true}));
  // Once the error clears, the partition is sent again even with the same high watermark.
  auto next = cache.open(12, id, 2, false, {}, {}, 2);
  std::vector<fetch_partition_outcome> calm(4, quiet(10));
  calm[0].log_start_offset = 3;
  cache.finish(next, calm, keep, 2);
  size_t sent = 0;
  for (size_t i = 0; i < keep.size(); ++i) {
    if (!keep[i]) continue;
    ++sent;
    EXPECT_EQ(next.partitions[i].key, part("a", 1).key);
  }
  EXPECT_EQ(sent, 1u);
}

TEST(fetch_session_cache, incremental_request_updates_sent_partitions_adds_new_ones_and_forgets) {
  fetch_session_cache cache(10, 120000, 1);
  const int32_t id = create(cache, {part("a", 0, 5), part("a", 1, 7)});
  auto ctx = cache.open(12, id, 1, false, {part("a", 0, 9), part("c", 0, 1)}, {part("a", 1).key}, 1);
  ASSERT_EQ(ctx.what, kind::incremental);
  ASSERT_EQ(ctx.partitions.size(), 2u);
  EXPECT_EQ(ctx.partitions[0].key, part("a", 0).key);
  EXPECT_EQ(ctx.partitions[0].fetch_offset, 9);
  EXPECT_EQ(ctx.partitions[1].key, part("c", 0).key);
  EXPECT_EQ(cache.find(id)->size(), 2u);
  // A partition added in an incremental request has no high watermark sent yet: it is answered.
  std::vector<fetch_partition_outcome> out{quiet(10), quiet(0)};
  std::vector<bool> keep;
  cache.finish(ctx, out, keep, 1);
  EXPECT_EQ(keep, (std::vector<bool>{false, true}));
  EXPECT_EQ(cache.partitions_cached(), 2u);
}

TEST(fetch_session_cache, forgetting_every_partition_closes_the_session) {
  fetch_session_cache cache(10, 120000, 1);
  const int32_t id = create(cache, {part("a", 0)});
  auto ctx = cache.open(12, id, 1, false, {}, {part("a", 0).key}, 1);
  EXPECT_EQ(ctx.what, kind::sessionless);
  EXPECT_EQ(cache.find(id), nullptr);
  EXPECT_EQ(cache.partitions_cached(), 0u);
}

TEST(fetch_session_cache, wrong_epoch_unknown_id_and_topic_id_mismatch_are_kafka_errors) {
  fetch_session_cache cache(10, 120000, 1);
  const int32_t id = create(cache, {part("a", 0)});
  auto stale = cache.open(12, id, 2, false, {}, {}, 1);
  EXPECT_EQ(stale.what, kind::error);
  EXPECT_EQ(stale.error, error_code::invalid_fetch_session_epoch);
  auto unknown = cache.open(12, id + 1, 1, false, {}, {}, 1);
  EXPECT_EQ(unknown.error, error_code::fetch_session_id_not_found);
  auto no_id = cache.open(12, 0, 1, false, {}, {}, 1);
  EXPECT_EQ(no_id.error, error_code::fetch_session_id_not_found);
  // A session made with topic names cannot continue with topic ids (v13+), nor the reverse.
  auto ids = cache.open(13, id, 1, false, {}, {}, 1);
  EXPECT_EQ(ids.error, error_code::fetch_session_topic_id_error);
  // The errors changed nothing: the right epoch still works.
  EXPECT_EQ(cache.open(12, id, 1, false, {}, {}, 1).what, kind::incremental);
}

TEST(fetch_session_cache, sessions_made_with_topic_ids_key_partitions_by_id) {
  fetch_session_cache cache(10, 120000, 1);
  fetch_partition_params p;
  p.key.topic_id = uuid{1, 2};
  p.key.partition = 0;
  const int32_t id = create(cache, {p}, false, 0, 13);
  auto names = cache.open(12, id, 1, false, {}, {}, 1);
  EXPECT_EQ(names.error, error_code::fetch_session_topic_id_error);
  auto forget = cache.open(13, id, 1, false, {}, {fetch_key{uuid{1, 2}, {}, 0}}, 1);
  EXPECT_EQ(forget.what, kind::sessionless);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(fetch_session_cache, full_request_naming_a_session_closes_it_and_may_open_another) {
  fetch_session_cache cache(10, 120000, 1);
  const int32_t id = create(cache, {part("a", 0)});
  auto reopen = cache.open(12, id, 0, false, {part("a", 0)}, {}, 1);
  EXPECT_EQ(reopen.what, kind::full);
  EXPECT_EQ(cache.find(id), nullptr);
  std::vector<bool> keep;
  const int32_t id2 = cache.finish(reopen, std::vector<fetch_partition_outcome>{quiet(1)}, keep, 1);
  EXPECT_NE(id2, 0);
  EXPECT_NE(id2, id);
  auto close = cache.open(12, id2, -1, false, {part("a", 0)}, {}, 2);
  EXPECT_EQ(close.what, kind::sessionless);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(fetch_session_cache, no_slots_means_no_sessions) {
  fetch_session_cache cache(0, 120000, 1);
  EXPECT_EQ(create(cache, {part("a", 0)}), 0);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(fetch_session_cache, full_cache_evicts_a_stale_session_first) {
  fetch_session_cache cache(2, 1000, 1);
  const int32_t old_id = create(cache, {part("a", 0), part("a", 1)}, true, 0);
  const int32_t busy = create(cache, {part("b", 0), part("b", 1)}, true, 0);
  cache.open(12, busy, 1, true, {}, {}, 900);  // used recently
  // Young privileged sessions cannot be evicted by anyone...
  EXPECT_EQ(create(cache, {part("c", 0)}, false, 500), 0);
  EXPECT_EQ(create(cache, {part("c", 0), part("c", 1), part("c", 2)}, true, 500), 0);
  // ...but one unused for longer than the eviction age goes, whatever asks.
  const int32_t fresh = create(cache, {part("c", 0)}, false, 1500);
  EXPECT_NE(fresh, 0);
  EXPECT_EQ(cache.find(old_id), nullptr);
  EXPECT_NE(cache.find(busy), nullptr);
  EXPECT_EQ(cache.evictions(), 1u);
}

TEST(fetch_session_cache, followers_evict_smaller_young_consumer_sessions_but_consumers_cannot) {
  fetch_session_cache cache(2, 120000, 1);
  const int32_t small = create(cache, {part("a", 0)}, false, 0);
  const int32_t big = create(cache, {part("b", 0), part("b", 1), part("b", 2)}, false, 0);
  // A consumer cannot evict young sessions at all.
  EXPECT_EQ(create(cache, {part("c", 0), part("c", 1), part("c", 2), part("c", 3)}, false, 10), 0);
  // A follower (privileged) evicts the cheapest unprivileged session.
  const int32_t follower = create(cache, {part("d", 0)}, true, 10);
  EXPECT_NE(follower, 0);
  EXPECT_EQ(cache.find(small), nullptr);
  EXPECT_NE(cache.find(big), nullptr);
  // Another follower session outranks any unprivileged one, however large.
  EXPECT_NE(create(cache, {part("e", 0)}, true, 20), 0);
  EXPECT_EQ(cache.find(big), nullptr);
  EXPECT_EQ(cache.evictions(), 2u);
}

TEST(fetch_session_cache, old_sessions_are_evicted_only_by_larger_sessions) {
  fetch_session_cache cache(1, 1000, 1);
  const int32_t id = create(cache, {part("a", 0), part("a", 1)}, false, 0);
  cache.open(12, id, 1, false, {}, {}, 1500);  // older than 1000 ms, used just now
  EXPECT_EQ(create(cache, {part("b", 0), part("b", 1)}, false, 1600), 0);  // same size: no
  EXPECT_NE(create(cache, {part("b", 0), part("b", 1), part("b", 2)}, false, 1600), 0);
  EXPECT_EQ(cache.find(id), nullptr);
}

TEST(fetch_session_cache, a_parked_fetch_of_an_evicted_session_still_finishes) {
  fetch_session_cache cache(1, 1000, 1);
  const int32_t id = create(cache, {part("a", 0)}, false, 0);
  auto ctx = cache.open(12, id, 1, false, {}, {}, 10);
  // Meanwhile the session goes stale and is evicted.
  EXPECT_NE(create(cache, {part("b", 0)}, false, 5000), 0);
  EXPECT_EQ(cache.find(id), nullptr);
  std::vector<bool> keep;
  EXPECT_EQ(cache.finish(ctx, std::vector<fetch_partition_outcome>{with_records(10)}, keep, 5000), id);
  EXPECT_EQ(keep, (std::vector<bool>{true}));
  EXPECT_EQ(cache.open(12, id, 2, false, {}, {}, 5001).error, error_code::fetch_session_id_not_found);
}

TEST(fetch_session_cache, epochs_wrap_past_int_max_to_one) {
  EXPECT_EQ(next_fetch_session_epoch(1), 2);
  EXPECT_EQ(next_fetch_session_epoch(INT32_MAX), 1);
}

}  // namespace
}  // namespace gregor::server
