#include "replication_quota.h"

#include "gregor/controller/metadata_image.h"

#include <algorithm>
#include <charconv>
#include <climits>

namespace gregor::server {

rate_quota::rate_quota(int64_t window_ms, int samples)
    : _window_ms(std::max<int64_t>(window_ms, 1)), _samples(std::max(samples, 2)) {}

void rate_quota::purge(int64_t now_ms) {
  const int64_t horizon = now_ms - _window_ms * _samples;
  while (!_recent.empty() && _recent.front().start_ms <= horizon) _recent.pop_front();
}

void rate_quota::record(int64_t bytes, int64_t now_ms) {
  purge(now_ms);
  if (_recent.empty() || now_ms - _recent.back().start_ms >= _window_ms) {
    _recent.push_back(sample{now_ms, 0});
    if (int(_recent.size()) > _samples) _recent.pop_front();
  }
  _recent.back().bytes += bytes;
}

double rate_quota::rate(int64_t now_ms) const {
  const int64_t horizon = now_ms - _window_ms * _samples;
  int64_t total = 0;
  int64_t oldest = now_ms;
  for (const auto& s : _recent) {
    if (s.start_ms <= horizon) continue;
    total += s.bytes;
    oldest = std::min(oldest, s.start_ms);
  }
  int64_t elapsed = std::max<int64_t>(now_ms - oldest, 0);
  const int64_t full = elapsed / _window_ms;
  if (full < _samples - 1) elapsed += (_samples - 1 - full) * _window_ms;
  return double(total) * 1000.0 / double(elapsed);
}

bool rate_quota::exceeded(int64_t bound, int64_t now_ms) const {
  return bound < INT64_MAX && rate(now_ms) > double(bound);
}

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
bool parse_int(std::string_view s, int32_t& out) {
  s = trim(s);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && !s.empty();
}
}  // namespace

bool replica_throttled(std::string_view list, int32_t partition, node_id broker) {
  list = trim(list);
  if (list == "*") return true;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const size_t colon = item.find(':');
    if (colon == std::string_view::npos) continue;
    int32_t p = 0, b = 0;
    if (parse_int(item.substr(0, colon), p) && parse_int(item.substr(colon + 1), b) && p == partition &&
        b == broker.value())
      return true;
  }
  return false;
}

bool replica_throttled(const controller::metadata_image& image, std::string_view list_key, const std::string& topic,
                       int32_t partition, node_id broker) {
  const auto* t = image.topic(topic);
  if (!t) return false;
  auto it = t->configs.find(std::string(list_key));
  return it != t->configs.end() && replica_throttled(it->second, partition, broker);
}

}  // namespace gregor::server
