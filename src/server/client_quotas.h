#pragma once
// server::client_quota_manager: Kafka's client quotas (ClientQuotaManager with its
// DefaultQuotaCallback) for produce bytes, fetch bytes, request time (ClientRequestQuotaManager,
// KIP-124) and controller mutations (ControllerMutationQuotaManager, KIP-599), as pure logic.
//
// Quotas come from the metadata image (ClientQuotaRecord: entity -> producer_byte_rate,
// consumer_byte_rate, request_percentage, controller_mutation_rate). For a request of principal name `user` and client id
// `client_id`, the quota that applies is the first of Kafka's precedence that is set:
//   /users/<user>/clients/<client-id>, /users/<user>/clients/<default>, /users/<user>,
//   /users/<default>/clients/<client-id>, /users/<default>/clients/<default>, /users/<default>,
//   /clients/<client-id>, /clients/<default>.
// Usage is measured per "metric tags" (user tag, client-id tag), Kafka's quotaMetricTags: the
// clients sharing a quota share one rate (every client of alice under /users/alice; each client id
// on its own under /clients/<default>). The rate is Kafka's Rate over `samples` windows of
// `window_ms` (quota.window.num, quota.window.size.seconds: base/sampled_rate.h); once a
// recording takes it over the quota, the answer is the throttle time
// (rate - quota) / quota * window, which the caller puts in the response (throttle_time_ms) and
// for which the connection is muted (KIP-219). A kind with no quota set anywhere records nothing.
//
// Request time is recorded in Kafka's unit, percent of one thread over a second
// (nanos_to_percentage), and its throttle is bounded by one quota window (Kafka's
// ClientRequestQuotaManager.maxThrottleTimeMs). Controller mutations (partitions created or
// deleted) go into a token_bucket per tags instead of a rate, over the controller.quota.window.*
// settings: strict (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+) refuses a mutation
// once the bucket is below zero, but accepts the one that takes it there; permissive (older
// versions) accepts everything and only throttles.
//
// Sensors (one rate per kind and tags) expire after an hour without use, as Kafka's do, and
// at most sensors_max are kept (the least recently used goes first).
//
// Threading: the io thread only. Time comes in as arguments.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "gregor/base/sampled_rate.h"
#include "gregor/controller/metadata_image.h"

namespace gregor::server {

enum class client_quota_kind : uint8_t { produce = 0, fetch = 1, request = 2, controller_mutation = 3 };
inline constexpr int client_quota_kinds = 4;

// Kafka's names: the quota key and the metric group ("Produce", "Fetch", "Request").
const char* quota_key(client_quota_kind k);
const char* quota_kind_name(client_quota_kind k);

// Request handling time in Kafka's unit for request_percentage: percent of one thread for a
// second (ClientRequestQuotaManager.nanosToPercentage: nanos * 100 / 1e9).
inline double nanos_to_percentage(int64_t nanos) { return double(nanos) * 100.0 / 1e9; }

struct client_quota_settings {
  int64_t window_ms = 1000;  // quota.window.size.seconds * 1000
  int samples = 11;          // quota.window.num
  size_t sensors_max = 100000;
  int64_t sensor_expiry_ms = 3600 * 1000;
  int64_t controller_window_ms = 1000;  // controller.quota.window.size.seconds * 1000
  int controller_samples = 11;          // controller.quota.window.num
};

// Kafka's TokenBucket (org.apache.kafka.common.metrics.stats): refilled at `rate` tokens per
// second up to a burst of rate * samples * window; a recording takes tokens away (and may take
// the bucket below zero). A new bucket is full (Kafka's starts at time 0, refilled at once).
class token_bucket {
 public:
  // Tokens left at now_ms (negative: exhausted) for a quota of `rate` per second.
  double tokens(double rate, double burst, int64_t now_ms);
  void record(double value, double rate, double burst, int64_t now_ms);

 private:
  void refill(double rate, double burst, int64_t now_ms);
  double _tokens = 0;
  int64_t _last_ms = 0;
  bool _fresh = true;
};

// (user tag, client-id tag); "" = not part of the tags.
struct quota_tags {
  std::string user;
  std::string client_id;
  auto operator<=>(const quota_tags&) const = default;
};

class client_quota_manager {
 public:
  explicit client_quota_manager(client_quota_settings s = {});

  // Replaces every quota with the image's (call whenever the image's client quotas change).
  void set_quotas(const std::map<controller::quota_entity, std::map<std::string, double>>& all);
  // Some entity sets this kind's key.
  bool enabled(client_quota_kind k) const { return _levels[size_t(k)] != 0; }
  quota_tags tags_for(client_quota_kind k, const std::string& user, const std::string& client_id) const;
  // The quota of these tags (nullopt = unlimited).
  std::optional<double> limit(client_quota_kind k, const quota_tags& t) const;
  std::optional<double> quota_for(client_quota_kind k, const std::string& user, const std::string& client_id) const {
    return limit(k, tags_for(k, user, client_id));
  }

  // Records `value` (bytes; request time in percent-seconds) and returns the throttle time in
  // milliseconds (0 within the quota, or when the kind has no quotas: nothing is recorded then).
  // Not for controller_mutation (record_mutation).
  int64_t record(client_quota_kind k, const std::string& user, const std::string& client_id, double value,
                 int64_t now_ms);
  // Takes back a recording (a throttled Fetch answers without records, Kafka's unrecord).
  void unrecord(client_quota_kind k, const std::string& user, const std::string& client_id, double value,
                int64_t now_ms);
  // The most that can be recorded at once without a certain throttle (Fetch caps max_bytes to it):
  // quota * (samples - 1) * window; infinity without a quota.
  double max_value_in_window(client_quota_kind k, const std::string& user, const std::string& client_id) const;
  // KIP-599, one topic's partitions created or deleted. Strict (Kafka's
  // StrictControllerMutationQuota.record): refused when the bucket is already below zero, with the
  // throttle time (the time for it to refill to zero); else the permits are taken, even if that
  // takes the bucket below zero, and the answer is accepted with no throttle. Permissive
  // (PermissiveControllerMutationQuota): always taken; the throttle time once the bucket is below
  // zero. Without a quota for the request: accepted, nothing recorded.
  struct mutation_result {
    bool accepted = true;
    int64_t throttle_ms = 0;
  };
  mutation_result record_mutation(const std::string& user, const std::string& client_id, double permits, bool strict,
                                  int64_t now_ms);
  // Gives back permits taken for a change that then failed.
  void unrecord_mutation(const std::string& user, const std::string& client_id, double permits, int64_t now_ms);
  // The connection was muted for `throttle_ms` (metrics).
  void note_throttled(client_quota_kind k, const std::string& user, const std::string& client_id, int64_t throttle_ms,
                      int64_t now_ms);

  struct sensor_view {
    client_quota_kind kind;
    quota_tags tags;
    double rate = 0;               // per second, now (controller_mutation: tokens left)
    std::optional<double> limit;   // the quota of these tags
    double recorded_total = 0;     // everything recorded (bytes, percent-seconds)
    double throttle_ms_total = 0;
    uint64_t throttles = 0;
  };
  void for_each_sensor(int64_t now_ms, const std::function<void(const sensor_view&)>& fn);
  size_t sensor_count() const { return _sensors.size(); }

 private:
  // An entity level: (user part, client part), each absent (0), <default> (1) or named (2).
  using level_key = std::tuple<int, std::string, int, std::string>;
  struct sensor {
    sampled_rate rate;
    token_bucket bucket;  // controller_mutation only
    double recorded_total = 0;
    double throttle_ms_total = 0;
    uint64_t throttles = 0;
    int64_t last_used_ms = 0;
  };
  bool has(client_quota_kind k, const level_key& l) const { return _quotas[size_t(k)].contains(l); }
  std::optional<double> find(client_quota_kind k, const level_key& l) const;
  sensor& sensor_for(client_quota_kind k, const quota_tags& t, int64_t now_ms);
  void expire(int64_t now_ms);

  client_quota_settings _settings;
  std::map<level_key, double> _quotas[client_quota_kinds];
  double burst(double quota) const {
    return quota * double(_settings.controller_samples) * double(_settings.controller_window_ms) / 1000.0;
  }

  int _levels[client_quota_kinds] = {0, 0, 0, 0};  // Kafka's quotaTypesEnabled bits
  std::map<std::tuple<int, std::string, std::string>, sensor> _sensors;
  int64_t _last_expiry_ms = 0;
};

}  // namespace gregor::server
