#pragma once
// log_maintenance: the broker's background log chores, run on the io thread by a timer (the server
// owns timers; storage has none):
//   - timed flushes: a log with unflushed records is fsynced once its flush.ms has passed;
//   - retention every log.retention.check.interval.ms (storage::partition_log::enforce_retention:
//     retention.ms/retention.bytes, segments below the log start offset, `.deleted` removal);
//   - compaction of compacted topics every log.cleaner.backoff.ms when log.cleaner.enable
//     (storage::partition_log::compact; runs inline on the io thread: a long pass delays requests);
//   - checkpoints (recovery points, log start offsets) every
//     log.flush.offset.checkpoint.interval.ms, and at once when retention moved a log start.
// Owned by the broker (started after core::open, stopped before core::close). Single-threaded.
#include <cstdint>

#include <boost/asio/steady_timer.hpp>

namespace gregor::server {

class core;

class log_maintenance {
 public:
  explicit log_maintenance(core& c);
  log_maintenance(const log_maintenance&) = delete;
  log_maintenance& operator=(const log_maintenance&) = delete;

  void start();
  void stop();
  // Does whatever is due at now_ms (the timer calls it; tests may too).
  void run_once(int64_t now_ms);
  // Tick period: the retention check interval, clamped to [10 ms, 1 s] so flush.ms is honoured.
  int64_t tick_ms() const { return _tick_ms; }

 private:
  void arm();

  core& _core;
  boost::asio::steady_timer _timer;
  int64_t _tick_ms = 1000;
  int64_t _next_retention_ms = 0;
  int64_t _next_checkpoint_ms = 0;
  int64_t _next_clean_ms = 0;
  bool _running = false;
};

}  // namespace gregor::server
