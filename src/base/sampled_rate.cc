#include "gregor/base/sampled_rate.h"

#include <algorithm>
#include <cmath>

namespace gregor {

sampled_rate::sampled_rate(int64_t window_ms, int samples)
    : _window_ms(std::max<int64_t>(window_ms, 1)), _samples(std::max(samples, 1)) {}

sampled_rate::sample& sampled_rate::current(int64_t now_ms) {
  if (_ring.empty()) _ring.push_back(sample{0, now_ms, now_ms, 0});
  return _ring[_current];
}

void sampled_rate::record(double value, int64_t now_ms) {
  sample* s = &current(now_ms);
  if (now_ms - s->start_ms >= _window_ms) {
    // Kafka keeps one sample more than configured (purge needs the one that just ended).
    _current = (_current + 1) % size_t(_samples + 1);
    if (_current >= _ring.size()) {
      _ring.push_back(sample{0, now_ms, now_ms, 0});
    } else {
      _ring[_current] = sample{0, now_ms, now_ms, 0};
    }
    s = &_ring[_current];
  }
  s->value += value;
  s->events += 1;
  s->last_event_ms = now_ms;
}

void sampled_rate::purge(int64_t now_ms) {
  const int64_t expire_age_ms = int64_t(_samples) * _window_ms;
  for (auto& s : _ring)
    if (now_ms - s.last_event_ms >= expire_age_ms) s = sample{0, now_ms, now_ms, 0};
}

double sampled_rate::total(int64_t now_ms) {
  purge(now_ms);
  double sum = 0;
  for (const auto& s : _ring) sum += s.value;
  return sum;
}

int64_t sampled_rate::window_size_ms(int64_t now_ms) {
  purge(now_ms);
  int64_t oldest = current(now_ms).start_ms;
  for (const auto& s : _ring) oldest = std::min(oldest, s.start_ms);
  int64_t elapsed_ms = now_ms - oldest;
  const int64_t full_windows = elapsed_ms / _window_ms;
  const int64_t min_full_windows = _samples - 1;
  if (full_windows < min_full_windows) elapsed_ms += (min_full_windows - full_windows) * _window_ms;
  return elapsed_ms;
}

double sampled_rate::rate(int64_t now_ms) {
  const double sum = total(now_ms);
  const int64_t window = window_size_ms(now_ms);
  if (window <= 0) return 0;
  return sum / (double(window) / 1000.0);
}

int64_t sampled_rate::throttle_ms(double bound, int64_t now_ms) {
  const double value = rate(now_ms);
  if (value <= bound || bound <= 0) return 0;
  const double ms = (value - bound) / bound * double(window_size_ms(now_ms));
  return int64_t(std::llround(ms));
}

}  // namespace gregor
