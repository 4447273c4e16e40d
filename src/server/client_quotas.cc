#include "client_quotas.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace gregor::server {
namespace {

constexpr int absent = 0;
constexpr int default_entity = 1;
constexpr int named = 2;

// Kafka's quotaTypesEnabled bits.
constexpr int client_id_level = 1;
constexpr int user_level = 2;
constexpr int user_client_id_level = 4;

}  // namespace

const char* quota_key(client_quota_kind k) {
  switch (k) {
    case client_quota_kind::produce: return "producer_byte_rate";
    case client_quota_kind::fetch: return "consumer_byte_rate";
    case client_quota_kind::request: return "request_percentage";
    case client_quota_kind::controller_mutation: return "controller_mutation_rate";
  }
  return "";
}

const char* quota_kind_name(client_quota_kind k) {
  switch (k) {
    case client_quota_kind::produce: return "produce";
    case client_quota_kind::fetch: return "fetch";
    case client_quota_kind::request: return "request";
    case client_quota_kind::controller_mutation: return "controller_mutation";
  }
  return "";
}

void token_bucket::refill(double rate, double burst, int64_t now_ms) {
  if (_fresh) {
    _tokens = burst;
    _fresh = false;
  } else {
    _tokens = std::min(burst, _tokens + rate * double(now_ms - _last_ms) / 1000.0);
  }
  _last_ms = now_ms;
}

double token_bucket::tokens(double rate, double burst, int64_t now_ms) {
  refill(rate, burst, now_ms);
  return _tokens;
}

void token_bucket::record(double value, double rate, double burst, int64_t now_ms) {
  refill(rate, burst, now_ms);
  _tokens = std::min(burst, _tokens - value);
}

client_quota_manager::client_quota_manager(client_quota_settings s) : _settings(s) {}

void client_quota_manager::set_quotas(const std::map<controller::quota_entity, std::map<std::string, double>>& all) {
  for (int k = 0; k < client_quota_kinds; ++k) {
    _quotas[k].clear();
    _levels[k] = 0;
  }
  for (const auto& [entity, values] : all) {
    level_key key{absent, "", absent, ""};
    bool usable = true;
    for (const auto& [type, name] : entity) {
      if (type == "user") {
        std::get<0>(key) = name ? named : default_entity;
        std::get<1>(key) = name.value_or("");
      } else if (type == "client-id") {
        std::get<2>(key) = name ? named : default_entity;
        std::get<3>(key) = name.value_or("");
      } else {
        usable = false;  // ip entities are connection quotas
      }
    }
    if (!usable || (std::get<0>(key) == absent && std::get<2>(key) == absent)) continue;
    const int level = std::get<0>(key) != absent && std::get<2>(key) != absent ? user_client_id_level
                      : std::get<0>(key) != absent                            ? user_level
                                                                              : client_id_level;
    for (int k = 0; k < client_quota_kinds; ++k) {
      auto it = values.find(quota_key(client_quota_kind(k)));
      if (it == values.end()) continue;
      _quotas[k][key] = it->second;
      _levels[k] |= level;
    }
  }
}

std::optional<double> client_quota_manager::find(client_quota_kind k, const level_key& l) const {
  auto it = _quotas[size_t(k)].find(l);
  if (it == _quotas[size_t(k)].end()) return std::nullopt;
  return it->second;
}

quota_tags client_quota_manager::tags_for(client_quota_kind k, const std::string& user,
                                          const std::string& client_id) const {
  switch (_levels[size_t(k)]) {
    case 0:
    case client_id_level: return {"", client_id};
    case user_level: return {user, ""};
    case user_client_id_level: return {user, client_id};
    default: break;
  }
  // Several levels: the tags of the most specific entity that is set (Kafka's order).
  if (has(k, {named, user, named, client_id})) return {user, client_id};
  if (has(k, {named, user, default_entity, ""})) return {user, client_id};
  if (has(k, {named, user, absent, ""})) return {user, ""};
  if (has(k, {default_entity, "", named, client_id})) return {user, client_id};
  if (has(k, {default_entity, "", default_entity, ""})) return {user, client_id};
  if (has(k, {default_entity, "", absent, ""})) return {user, ""};
  return {"", client_id};
}

std::optional<double> client_quota_manager::limit(client_quota_kind k, const quota_tags& t) const {
  std::optional<double> q;
  if (!t.user.empty() && !t.client_id.empty()) {
    if ((q = find(k, {named, t.user, named, t.client_id}))) return q;
    if ((q = find(k, {named, t.user, default_entity, ""}))) return q;
    if ((q = find(k, {default_entity, "", named, t.client_id}))) return q;
    return find(k, {default_entity, "", default_entity, ""});
  }
  if (!t.user.empty()) {
    if ((q = find(k, {named, t.user, absent, ""}))) return q;
    return find(k, {default_entity, "", absent, ""});
  }
  if (!t.client_id.empty()) {
    if ((q = find(k, {absent, "", named, t.client_id}))) return q;
    return find(k, {absent, "", default_entity, ""});
  }
  return std::nullopt;
}

client_quota_manager::sensor& client_quota_manager::sensor_for(client_quota_kind k, const quota_tags& t,
                                                               int64_t now_ms) {
  expire(now_ms);
  auto key = std::make_tuple(int(k), t.user, t.client_id);
  auto it = _sensors.find(key);
  if (it == _sensors.end()) {
    if (_sensors.size() >= _settings.sensors_max) {
      auto oldest = std::min_element(_sensors.begin(), _sensors.end(), [](const auto& a, const auto& b) {
        return a.second.last_used_ms < b.second.last_used_ms;
      });
      _sensors.erase(oldest);
    }
    it = _sensors.emplace(key, sensor{sampled_rate(_settings.window_ms, _settings.samples), token_bucket{}}).first;
  }
  it->second.last_used_ms = now_ms;
  return it->second;
}

void client_quota_manager::expire(int64_t now_ms) {
  // A sweep at most once a minute: sensors live an hour.
  if (now_ms - _last_expiry_ms < 60'000) return;
  _last_expiry_ms = now_ms;
  std::erase_if(_sensors, [&](const auto& kv) { return now_ms - kv.second.last_used_ms >= _settings.sensor_expiry_ms; });
}

int64_t client_quota_manager::record(client_quota_kind k, const std::string& user, const std::string& client_id,
                                     double value, int64_t now_ms) {
  if (!enabled(k)) return 0;
  const quota_tags t = tags_for(k, user, client_id);
  sensor& s = sensor_for(k, t, now_ms);
  s.rate.record(value, now_ms);
  s.recorded_total += value;
  const auto q = limit(k, t);
  if (!q) return 0;
  const int64_t ms = s.rate.throttle_ms(*q, now_ms);
  // Kafka bounds the request-time throttle by one quota window (QuotaUtils.boundedThrottleTime).
  return k == client_quota_kind::request ? std::min(ms, _settings.window_ms) : ms;
}

client_quota_manager::mutation_result client_quota_manager::record_mutation(const std::string& user,
                                                                            const std::string& client_id,
                                                                            double permits, bool strict,
                                                                            int64_t now_ms) {
  constexpr auto k = client_quota_kind::controller_mutation;
  if (!enabled(k)) return {};
  const quota_tags t = tags_for(k, user, client_id);
  const auto q = limit(k, t);
  if (!q || *q <= 0) return {};
  sensor& s = sensor_for(k, t, now_ms);
  // Kafka's throttle for a token bucket: the time to refill it to zero, -tokens / rate.
  auto throttle_of = [&](double tokens) { return tokens < 0 ? int64_t(std::llround(-tokens / *q * 1000.0)) : 0; };
  if (strict) {
    const double before = s.bucket.tokens(*q, burst(*q), now_ms);
    if (before < 0) return {false, throttle_of(before)};
    s.bucket.record(permits, *q, burst(*q), now_ms);
    s.recorded_total += permits;
    return {};
  }
  s.bucket.record(permits, *q, burst(*q), now_ms);
  s.recorded_total += permits;
  return {true, throttle_of(s.bucket.tokens(*q, burst(*q), now_ms))};
}

void client_quota_manager::unrecord_mutation(const std::string& user, const std::string& client_id, double permits,
                                             int64_t now_ms) {
  constexpr auto k = client_quota_kind::controller_mutation;
  if (!enabled(k)) return;
  const quota_tags t = tags_for(k, user, client_id);
  const auto q = limit(k, t);
  if (!q || *q <= 0) return;
  sensor& s = sensor_for(k, t, now_ms);
  s.bucket.record(-permits, *q, burst(*q), now_ms);
  s.recorded_total -= permits;
}

void client_quota_manager::unrecord(client_quota_kind k, const std::string& user, const std::string& client_id,
                                    double value, int64_t now_ms) {
  if (!enabled(k)) return;
  sensor& s = sensor_for(k, tags_for(k, user, client_id), now_ms);
  s.rate.record(-value, now_ms);
  s.recorded_total -= value;
}

double client_quota_manager::max_value_in_window(client_quota_kind k, const std::string& user,
                                                 const std::string& client_id) const {
  if (!enabled(k)) return std::numeric_limits<double>::infinity();
  const auto q = quota_for(k, user, client_id);
  if (!q) return std::numeric_limits<double>::infinity();
  return *q * double(_settings.samples - 1) * double(_settings.window_ms) / 1000.0;
}

void client_quota_manager::note_throttled(client_quota_kind k, const std::string& user, const std::string& client_id,
                                          int64_t throttle_ms, int64_t now_ms) {
  if (throttle_ms <= 0 || !enabled(k)) return;
  sensor& s = sensor_for(k, tags_for(k, user, client_id), now_ms);
  s.throttle_ms_total += double(throttle_ms);
  s.throttles += 1;
}

void client_quota_manager::for_each_sensor(int64_t now_ms, const std::function<void(const sensor_view&)>& fn) {
  for (auto& [key, s] : _sensors) {
    sensor_view v;
    v.kind = client_quota_kind(std::get<0>(key));
    v.tags = quota_tags{std::get<1>(key), std::get<2>(key)};
    v.limit = limit(v.kind, v.tags);
    v.rate = v.kind != client_quota_kind::controller_mutation ? s.rate.rate(now_ms)
             : v.limit                                        ? s.bucket.tokens(*v.limit, burst(*v.limit), now_ms)
                                                              : 0;
    v.recorded_total = s.recorded_total;
    v.throttle_ms_total = s.throttle_ms_total;
    v.throttles = s.throttles;
    fn(v);
  }
}

}  // namespace gregor::server
