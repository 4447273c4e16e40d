// client_quota_manager applies Kafka's client quotas: the precedence of user / client-id / default
// entities, the sharing of one rate by the clients a quota covers, the throttle time once a rate
// exceeds its quota, and nothing recorded for a kind without quotas; request time in Kafka's
// percent unit with its throttle bounded by a window (KIP-124); controller mutations in a token
// bucket with Kafka's strict and permissive rules (KIP-599).
#include <gtest/gtest.h>

#include "../../../src/server/client_quotas.h"

namespace gregor::server {
namespace {

using entity_t = controller::quota_entity;
using quotas_t = std::map<entity_t, std::map<std::string, double>>;
constexpr auto produce = client_quota_kind::produce;
constexpr auto fetch = client_quota_kind::fetch;
constexpr auto request = client_quota_kind::request;

entity_t user(std::optional<std::string> u) { return {{"user", std::move(u)}}; }
entity_t client(std::optional<std::string> c) { return {{"client-id", std::move(c)}}; }
entity_t both(std::optional<std::string> u, std::optional<std::string> c) {
  return {{"client-id", std::move(c)}, {"user", std::move(u)}};
}

TEST(client_quotas, kafkas_precedence_picks_the_most_specific_entity) {
  client_quota_manager m;
  quotas_t q;
  auto set = [&](entity_t e, double v) {
    q[e]["producer_byte_rate"] = v;
    m.set_quotas(q);
  };
  set(client(std::nullopt), 8);
  EXPECT_EQ(m.quota_for(produce, "alice", "app"), 8);  // /clients/<default>
  set(client("app"), 7);
  EXPECT_EQ(m.quota_for(produce, "alice", "app"), 7);  // /clients/app
  set(user(std::nullopt), 6);
  EXPECT_EQ(m.quota_for(produce, "alice", "app"), 6);  // /users/<default>
  set(both(std::nullopt, std::nullopt), 5);
  EXPECT_EQ(m.quota_for(produce, "alice", "app"), 5);  // /users/<default>/clients/<default>
  set(both(std::nullopt, "app"), 4);
  EXPECT_EQ(m.quota_for(produce, "alice", "app"), 4);  // /users/<default>/clients/app
  set(user("alice"), 3);
  EXPECT_EQ(m.quota_for(produce, "alice", "app"), 3);  // /users/alice
  set(both("alice", std::nullopt), 2);
  EXPECT_EQ(m.quota_for(produce, "alice", "app"), 2);  // /users/alice/clients/<default>
  set(both("alice", "app"), 1);
  EXPECT_EQ(m.quota_for(produce, "alice", "app"), 1);  // /users/alice/clients/app
  // Others fall back along the same order.
  EXPECT_EQ(m.quota_for(produce, "alice", "other"), 2);
  EXPECT_EQ(m.quota_for(produce, "bob", "app"), 4);
  EXPECT_EQ(m.quota_for(produce, "bob", "other"), 5);
  // Each kind has its own keys.
  EXPECT_FALSE(m.quota_for(fetch, "alice", "app"));
  EXPECT_FALSE(m.enabled(fetch));
}

TEST(client_quotas, a_user_quota_is_shared_by_the_users_clients_and_a_default_client_quota_is_not) {
  client_quota_manager m;
  m.set_quotas({{user("alice"), {{"producer_byte_rate", 100}}}});
  EXPECT_EQ(m.tags_for(produce, "alice", "a"), (quota_tags{"alice", ""}));
  EXPECT_EQ(m.tags_for(produce, "alice", "b"), (quota_tags{"alice", ""}));
  // 800 bytes from each of two clients: 1600 over the 10 s minimum window, 160/s > 100/s.
  EXPECT_EQ(m.record(produce, "alice", "a", 800, 0), 0);
  EXPECT_GT(m.record(produce, "alice", "b", 800, 0), 0);

  client_quota_manager d;
  d.set_quotas({{client(std::nullopt), {{"producer_byte_rate", 100}}}});
  EXPECT_EQ(d.tags_for(produce, "alice", "a"), (quota_tags{"", "a"}));
  EXPECT_EQ(d.record(produce, "alice", "a", 800, 0), 0);
  EXPECT_EQ(d.record(produce, "alice", "b", 800, 0), 0);  // its own 100/s
}

TEST(client_quotas, the_throttle_time_brings_the_rate_back_to_the_quota) {
  client_quota_manager m;
  m.set_quotas({{client("app"), {{"producer_byte_rate", 1000}}}});
  EXPECT_EQ(m.record(produce, "ANONYMOUS", "app", 10000, 0), 0);  // exactly 1000/s over 10 s
  // 5000 more: 15000 over 10 s = 1500/s; (1500 - 1000) / 1000 * 10 s = 5 s.
  EXPECT_EQ(m.record(produce, "ANONYMOUS", "app", 5000, 0), 5000);
  // An unlimited client id of the same user is not affected.
  EXPECT_EQ(m.record(produce, "ANONYMOUS", "other", 1e9, 0), 0);
}

TEST(client_quotas, a_kind_without_quotas_records_nothing) {
  client_quota_manager m;
  EXPECT_EQ(m.record(produce, "alice", "app", 1e12, 0), 0);
  EXPECT_EQ(m.sensor_count(), 0u);
  EXPECT_EQ(m.max_value_in_window(fetch, "alice", "app"), std::numeric_limits<double>::infinity());
}

TEST(client_quotas, fetch_is_capped_to_the_window_and_a_throttled_fetch_takes_its_bytes_back) {
  client_quota_manager m;
  m.set_quotas({{client("c"), {{"consumer_byte_rate", 1000}}}});
  EXPECT_EQ(m.max_value_in_window(fetch, "u", "c"), 10000.0);  // quota * (11 - 1) windows of 1 s
  EXPECT_EQ(m.record(fetch, "u", "c", 10000, 0), 0);
  EXPECT_GT(m.record(fetch, "u", "c", 5000, 0), 0);
  m.unrecord(fetch, "u", "c", 5000, 0);
  EXPECT_EQ(m.record(fetch, "u", "c", 0, 0), 0);  // back within the quota
}

TEST(client_quotas, removing_a_quota_lifts_the_throttle) {
  client_quota_manager m;
  m.set_quotas({{client("app"), {{"producer_byte_rate", 10}}}});
  EXPECT_GT(m.record(produce, "u", "app", 10000, 0), 0);
  m.set_quotas({});
  EXPECT_EQ(m.record(produce, "u", "app", 10000, 1), 0);
}

TEST(client_quotas, throttles_are_counted_per_sensor_for_the_metrics) {
  client_quota_manager m;
  m.set_quotas({{client("app"), {{"producer_byte_rate", 10}}}});
  const int64_t ms = m.record(produce, "u", "app", 1000, 0);
  m.note_throttled(produce, "u", "app", ms, 0);
  int seen = 0;
  m.for_each_sensor(0, [&](const client_quota_manager::sensor_view& s) {
    ++seen;
    EXPECT_EQ(s.tags, (quota_tags{"", "app"}));
    EXPECT_EQ(s.throttles, 1u);
    EXPECT_EQ(s.throttle_ms_total, double(ms));
    EXPECT_EQ(s.recorded_total, 1000.0);
    EXPECT_EQ(s.limit, 10.0);
  });
  EXPECT_EQ(seen, 1);
}

TEST(client_quotas, idle_sensors_expire_and_their_number_is_bounded) {
  client_quota_settings s;
  s.sensors_max = 2;
  client_quota_manager m(s);
  m.set_quotas({{client(std::nullopt), {{"producer_byte_rate", 10}}}});
  m.record(produce, "u", "a", 1, 0);
  m.record(produce, "u", "b", 1, 1);
  m.record(produce, "u", "c", 1, 2);
  EXPECT_EQ(m.sensor_count(), 2u);
  m.record(produce, "u", "d", 1, 2 * 3600 * 1000);
  EXPECT_EQ(m.sensor_count(), 1u);
}

TEST(client_quotas, request_time_is_in_percent_of_a_thread_and_its_throttle_is_bounded_by_a_window) {
  EXPECT_DOUBLE_EQ(nanos_to_percentage(1'000'000'000), 100.0);  // a whole thread for a second
  EXPECT_DOUBLE_EQ(nanos_to_percentage(5'000'000), 0.5);
  client_quota_manager m;
  m.set_quotas({{client("busy"), {{"request_percentage", 1}}}});
  EXPECT_TRUE(m.enabled(request));
  // 10 percent-seconds over the 10 s minimum window: exactly 1 %.
  EXPECT_EQ(m.record(request, "u", "busy", 10, 0), 0);
  // 5 more: 1.5 %, which the rate formula would throttle for 5 s; Kafka caps it at one window.
  EXPECT_EQ(m.record(request, "u", "busy", 5, 0), 1000);
  EXPECT_EQ(m.record(request, "u", "idle", 1e6, 0), 0);  // no quota for that client id
}

TEST(client_quotas, a_token_bucket_starts_full_refills_at_the_rate_and_never_exceeds_its_burst) {
  token_bucket b;
  EXPECT_DOUBLE_EQ(b.tokens(2, 22, 5000), 22);  // full at first use, whatever the time
  b.record(30, 2, 22, 5000);
  EXPECT_DOUBLE_EQ(b.tokens(2, 22, 5000), -8);
  EXPECT_DOUBLE_EQ(b.tokens(2, 22, 6000), -6);   // 2 tokens a second
  EXPECT_DOUBLE_EQ(b.tokens(2, 22, 60000), 22);  // capped at the burst
  b.record(-100, 2, 22, 60000);                  // a give-back cannot overfill it either
  EXPECT_DOUBLE_EQ(b.tokens(2, 22, 60000), 22);
}

TEST(client_quotas, strict_mutation_quota_accepts_the_crossing_request_then_refuses_until_refilled) {
  client_quota_manager m;  // controller.quota.window.*: 11 windows of 1 s, burst = 11 x rate
  m.set_quotas({{client("admin"), {{"controller_mutation_rate", 1}}}});
  // 11 tokens: 10 partitions leave 1, 5 more take the bucket to -4 and are still accepted.
  auto r = m.record_mutation("u", "admin", 10, true, 0);
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.throttle_ms, 0);
  r = m.record_mutation("u", "admin", 5, true, 0);
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.throttle_ms, 0);
  // Now exhausted: refused with the time to refill to zero, 4 tokens at 1/s.
  r = m.record_mutation("u", "admin", 1, true, 0);
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.throttle_ms, 4000);
  r = m.record_mutation("u", "admin", 1, true, 1500);
  EXPECT_FALSE(r.accepted);
  EXPECT_EQ(r.throttle_ms, 2500);
  // Refilled to zero: accepted again.
  EXPECT_TRUE(m.record_mutation("u", "admin", 1, true, 4000).accepted);
  // Other client ids have no quota.
  EXPECT_TRUE(m.record_mutation("u", "other", 1e6, true, 4000).accepted);
}

TEST(client_quotas, permissive_mutation_quota_accepts_everything_and_throttles_below_zero) {
  client_quota_manager m;
  m.set_quotas({{client(std::nullopt), {{"controller_mutation_rate", 2}}}});  // burst 22
  auto r = m.record_mutation("u", "old-admin", 20, false, 0);
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.throttle_ms, 0);
  r = m.record_mutation("u", "old-admin", 10, false, 0);  // -8 tokens at 2/s
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.throttle_ms, 4000);
  r = m.record_mutation("u", "old-admin", 2, false, 0);
  EXPECT_TRUE(r.accepted);
  EXPECT_EQ(r.throttle_ms, 5000);
}

TEST(client_quotas, a_refused_change_gives_its_mutations_back) {
  client_quota_manager m;
  m.set_quotas({{client("admin"), {{"controller_mutation_rate", 1}}}});
  EXPECT_TRUE(m.record_mutation("u", "admin", 12, true, 0).accepted);  // -1
  m.unrecord_mutation("u", "admin", 12, 0);                            // back to 11
  EXPECT_TRUE(m.record_mutation("u", "admin", 11, true, 0).accepted);  // 0: not below zero
  EXPECT_TRUE(m.record_mutation("u", "admin", 1, true, 0).accepted);
  EXPECT_FALSE(m.record_mutation("u", "admin", 1, true, 0).accepted);
}

TEST(client_quotas, the_controller_window_settings_size_the_bucket) {
  client_quota_settings s;
  s.controller_samples = 2;
  s.controller_window_ms = 5000;
  client_quota_manager m(s);
  m.set_quotas({{user("alice"), {{"controller_mutation_rate", 3}}}});  // burst 3 x 2 x 5 s = 30
  EXPECT_TRUE(m.record_mutation("alice", "x", 31, true, 0).accepted);
  EXPECT_FALSE(m.record_mutation("alice", "y", 1, true, 0).accepted);  // shared by alice's clients
  EXPECT_TRUE(m.record_mutation("bob", "x", 1000, true, 0).accepted);  // no quota for bob
}

}  // namespace
}  // namespace gregor::server
