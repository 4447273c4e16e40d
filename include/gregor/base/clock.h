#pragma once
// Injected time. Pure cores take a clock& so tests drive them with manual_clock.
#include <cstdint>

namespace gregor {

class clock {
 public:
  virtual ~clock() = default;
  // Wall-clock milliseconds since the Unix epoch (record timestamps, segment.ms).
  virtual int64_t now_ms() const = 0;
  // Monotonic milliseconds (timeouts).
  virtual int64_t monotonic_ms() const = 0;
};

class system_clock final : public clock {
 public:
  int64_t now_ms() const override;
  int64_t monotonic_ms() const override;
  static system_clock& instance();
};

class manual_clock final : public clock {
 public:
  explicit manual_clock(int64_t start_ms = 1'700'000'000'000) : _now(start_ms) {}
  int64_t now_ms() const override { return _now; }
  int64_t monotonic_ms() const override { return _now; }
  void advance(int64_t ms) { _now += ms; }

 private:
  int64_t _now;
};

}  // namespace gregor
