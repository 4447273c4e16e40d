#pragma once
// Private to src/net: KIP-612's per-address connection creation rate (Kafka's ConnectionQuotas
// recordIpConnectionMaybeThrottle), as pure logic.
//
// Each client address with a connection_creation_rate quota (an `ips` entity, or the default ip
// entity) has a Rate over quota.window.num windows of quota.window.size.seconds (sampled_rate). A
// new connection is recorded; if that takes the rate over the quota, the connection is not
// accepted: the recording is taken back and the answer is the throttle time, bounded by one
// window (Kafka's maxThrottleTimeMs), for which the caller holds the socket before closing it.
// Addresses unused for an hour are forgotten, and at most ips_max are kept (least recently used
// first), as Kafka expires its sensors.
//
// Threading: one owner (the io thread). Time comes in as arguments.
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "gregor/base/sampled_rate.h"

namespace gregor::net::detail {

class ip_connection_rates {
 public:
  ip_connection_rates(int64_t window_ms, int samples, size_t ips_max = 100000,
                      int64_t expiry_ms = 3600 * 1000);

  // A new connection from `ip`, whose quota is `limit` connections per second: 0 = accepted
  // (recorded), else the milliseconds to hold it before closing it (not recorded).
  int64_t record(const std::string& ip, double limit, int64_t now_ms);
  size_t size() const { return _rates.size(); }

 private:
  struct entry {
    sampled_rate rate;
    int64_t last_used_ms = 0;
  };
  void expire(int64_t now_ms);

  int64_t _window_ms;
  int _samples;
  size_t _ips_max;
  int64_t _expiry_ms;
  int64_t _last_expiry_ms = 0;
  std::unordered_map<std::string, entry> _rates;
};

}  // namespace gregor::net::detail
