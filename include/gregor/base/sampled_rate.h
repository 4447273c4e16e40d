#pragma once
// sampled_rate: Kafka's Rate over a WindowedSum (org.apache.kafka.common.metrics.stats), the
// measure behind client quotas and connection-creation rates, as pure arithmetic.
//
// Values are summed into `samples` windows of `window_ms` each (quota.window.num = 11,
// quota.window.size.seconds = 1 by default); a window is complete once window_ms has passed
// since it started, and the next record starts a new one (one extra sample is kept, as Kafka
// does). A sample whose last event is samples * window_ms old counts for nothing. The rate is the
// sum over the retained samples divided by the time since the oldest one started, but never by
// less than (samples - 1) whole windows: a first burst counts as spread over ten seconds.
//
// Throttle time (Kafka's QuotaUtils.throttleTime): once the rate exceeds `bound`, how long the
// client must stay silent for the rate to come back to the bound:
// (rate - bound) / bound * window_size_ms.
//
// Time comes in as arguments only (tests use a simulated clock). Not thread-safe: one owner.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace gregor {

class sampled_rate {
 public:
  explicit sampled_rate(int64_t window_ms = 1000, int samples = 11);

  // Adds `value` (negative values take back what was recorded, Kafka's unrecord) at now_ms.
  void record(double value, int64_t now_ms);
  // Units per second as of now_ms.
  double rate(int64_t now_ms);
  // The time the rate divides by (Kafka's Rate.windowSize), in milliseconds.
  int64_t window_size_ms(int64_t now_ms);
  // 0 when rate(now_ms) <= bound, else the milliseconds to stay silent (rounded).
  int64_t throttle_ms(double bound, int64_t now_ms);
  // Records, then checks the bound (Kafka's Sensor.record with checkQuotas).
  int64_t record_and_throttle_ms(double value, double bound, int64_t now_ms) {
    record(value, now_ms);
    return throttle_ms(bound, now_ms);
  }
  // The sum of the retained samples, as of now_ms.
  double total(int64_t now_ms);

  int64_t window_ms() const { return _window_ms; }
  int samples() const { return _samples; }

 private:
  struct sample {
    double value = 0;
    int64_t start_ms = 0;
    int64_t last_event_ms = 0;
    int64_t events = 0;
  };
  void purge(int64_t now_ms);
  sample& current(int64_t now_ms);

  int64_t _window_ms;
  int _samples;
  std::vector<sample> _ring;  // at most _samples + 1
  size_t _current = 0;
};

}  // namespace gregor
