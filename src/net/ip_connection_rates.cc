#include "ip_connection_rates.h"

#include <algorithm>

namespace gregor::net::detail {

ip_connection_rates::ip_connection_rates(int64_t window_ms, int samples, size_t ips_max, int64_t expiry_ms)
    : _window_ms(window_ms), _samples(samples), _ips_max(ips_max), _expiry_ms(expiry_ms) {}

int64_t ip_connection_rates::record(const std::string& ip, double limit, int64_t now_ms) {
  expire(now_ms);
  auto it = _rates.find(ip);
  if (it == _rates.end()) {
    if (_rates.size() >= _ips_max) {
      auto oldest = std::min_element(_rates.begin(), _rates.end(), [](const auto& a, const auto& b) {
        return a.second.last_used_ms < b.second.last_used_ms;
      });
      _rates.erase(oldest);
    }
    it = _rates.emplace(ip, entry{sampled_rate(_window_ms, _samples), now_ms}).first;
  }
  entry& e = it->second;
  e.last_used_ms = now_ms;
  const int64_t throttle_ms = e.rate.record_and_throttle_ms(1.0, limit, now_ms);
  if (throttle_ms <= 0) return 0;
  e.rate.record(-1.0, now_ms);  // not accepted: Kafka unrecords it
  return std::max<int64_t>(1, std::min(throttle_ms, _window_ms));
}

void ip_connection_rates::expire(int64_t now_ms) {
  if (now_ms - _last_expiry_ms < 60'000) return;  // a sweep at most once a minute
  _last_expiry_ms = now_ms;
  std::erase_if(_rates, [&](const auto& kv) { return now_ms - kv.second.last_used_ms >= _expiry_ms; });
}

}  // namespace gregor::net::detail
