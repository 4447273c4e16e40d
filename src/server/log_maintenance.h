#pragma once
// log_maintenance: the broker's background log chores, run on the io thread by a timer (the server
// owns timers; storage has none):
//   - timed flushes: a log with unflushed records is fsynced once its flush.ms has passed;
//   - retention every log.retention.check.interval.ms (storage::partition_log::enforce_retention:
//     retention.ms/retention.bytes, segments below the log start offset, `.deleted` removal);
//   - compaction of compacted topics every log.cleaner.backoff.ms when log.cleaner.enable: the
//     pass is planned here (partition_log::plan_compaction), run on the cleaner thread
//     (storage::cleaner_thread: key map bounded by log.cleaner.dedupe.buffer.size, `.cleaned`
//     files written there) and its swap posted back to the io thread (apply_compaction), so
//     appends and fetches go on meanwhile; at most one pass per partition is in flight, and the
//     cleaner offsets are checkpointed after every swap. log.cleaner.threads=0 cleans inline;
//   - producer state follows the log start (idempotence::log_start_moved) every tick;
//   - checkpoints (recovery points, log start offsets) every
//     log.flush.offset.checkpoint.interval.ms, and at once when retention moved a log start; high
//     watermarks every replica.high.watermark.checkpoint.interval.ms. Collected here, written and
//     fsynced on a writer thread (storage::cleaner_thread), never on the io thread.
// Owned by the broker (started after core::open, stopped before core::close). Single-threaded.
#include <cstdint>
#include <memory>
#include <set>

#include <boost/asio/steady_timer.hpp>

#include "gregor/base/types.h"
#include "gregor/storage/cleaner_thread.h"
#include "gregor/storage/log_manager.h"
#include "gregor/storage/partition_log.h"

namespace gregor::server {

class core;

class log_maintenance {
 public:
  explicit log_maintenance(core& c);
  log_maintenance(const log_maintenance&) = delete;
  log_maintenance& operator=(const log_maintenance&) = delete;

  void start();
  // Stops the timer and the cleaner thread (waits for a running pass; its result is dropped and
  // its `.cleaned` files are removed at the next open).
  void stop();
  // Partitions with a compaction pass on the cleaner thread (tests, metrics).
  size_t cleans_in_flight() const { return _cleaning.size(); }
  // Does whatever is due at now_ms (the timer calls it; tests may too).
  void run_once(int64_t now_ms);
  // Tick period: the retention check interval, clamped to [10 ms, 1 s] so flush.ms is honoured.
  int64_t tick_ms() const { return _tick_ms; }

 private:
  void arm();
  // Queues the write of collected checkpoint contents (nothing when nullopt) on the writer thread.
  void write_checkpoint(std::optional<storage::log_manager::checkpoint_contents> c, const char* what);
  void start_clean(storage::partition_log& log, int64_t now_ms, offset last_stable);
  void finish_clean(const topic_partition& tp, const storage::partition_log* target, uuid topic_id,
                    const std::filesystem::path& dir,
                    result<storage::compaction_output, storage::storage_error> out);

  core& _core;
  boost::asio::steady_timer _timer;
  int64_t _tick_ms = 1000;
  int64_t _next_retention_ms = 0;
  int64_t _next_hw_checkpoint_ms = 0;  // replica.high.watermark.checkpoint.interval.ms
  int64_t _next_checkpoint_ms = 0;
  int64_t _next_clean_ms = 0;
  bool _running = false;
  std::unique_ptr<storage::cleaner_thread> _cleaner;
  std::unique_ptr<storage::cleaner_thread> _checkpoint_writer;
  std::set<topic_partition> _cleaning;  // a pass is on the cleaner thread
  std::shared_ptr<int> _alive = std::make_shared<int>(0);  // posted completions check it
};

}  // namespace gregor::server
