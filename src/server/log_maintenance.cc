#include "log_maintenance.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include <boost/asio/post.hpp>

#include "core.h"
#include "gregor/base/log.h"
#include "gregor/txn/producer_state_log.h"
#include "idempotence.h"

namespace gregor::server {
namespace {
spdlog::logger& lg() { return log::get("storage"); }
// Partitions whose pass may wait for the cleaner thread at once (one per partition in flight).
constexpr size_t cleaner_queue_max = 1024;
// Checkpoint writes waiting for the writer thread; a tick that finds it full skips its write (the
// next one collects newer contents anyway).
constexpr size_t checkpoint_queue_max = 4;
}  // namespace

void log_maintenance::write_checkpoint(std::optional<storage::log_manager::checkpoint_contents> c,
                                       const char* what) {
  if (!c) return;
  auto write = [&logs = _core.logs(), c = std::move(*c), what] {
    if (auto r = logs.write_checkpoint(c); !r) lg().error("{} checkpoint failed: {}", what, r.error().message);
  };
  // Off the io thread: each file is written and fsynced, then renamed and its directory fsynced,
  // which can take long while the disk is busy (Kafka's scheduler threads write them too).
  if (!_checkpoint_writer) {
    write();  // not started (or stopped): inline
  } else if (!_checkpoint_writer->submit(write)) {
    lg().debug("{} checkpoint skipped: earlier writes are still queued", what);
  }
}

log_maintenance::log_maintenance(core& c) : _core(c), _timer(c.io()) {
  const auto& cfg = c.config();
  _tick_ms = std::clamp<int64_t>(cfg.log_retention_check_interval_ms, 10, 1000);
  const int64_t now = c.clk().now_ms();
  _next_retention_ms = now + std::max<int64_t>(cfg.log_retention_check_interval_ms, 1);
  _next_checkpoint_ms = now + std::max<int64_t>(cfg.log_flush_offset_checkpoint_interval_ms, 1);
  _next_clean_ms = now + std::max<int64_t>(cfg.log_cleaner_backoff_ms, 1);
  _next_hw_checkpoint_ms = now + std::max<int64_t>(cfg.replica_high_watermark_checkpoint_interval_ms, 1);
  _tick_ms = std::min(_tick_ms, std::clamp<int64_t>(cfg.log_cleaner_backoff_ms, 10, 1000));
}

void log_maintenance::start() {
  if (_running) return;
  _running = true;
  if (!_alive) _alive = std::make_shared<int>(0);
  if (!_cleaner) _cleaner = std::make_unique<storage::cleaner_thread>(cleaner_queue_max);
  if (!_checkpoint_writer) _checkpoint_writer = std::make_unique<storage::cleaner_thread>(checkpoint_queue_max);
  arm();
}

void log_maintenance::stop() {
  _running = false;
  _timer.cancel();
  _alive.reset();
  if (_cleaner) _cleaner->stop();
  _cleaner.reset();
  // A write in progress finishes; queued ones are dropped (core::close writes the last ones).
  if (_checkpoint_writer) _checkpoint_writer->stop();
  _checkpoint_writer.reset();
  _cleaning.clear();
}

void log_maintenance::start_clean(storage::partition_log& log, int64_t now_ms, offset last_stable) {
  const auto& cfg = _core.config();
  const int64_t threads = std::max<int32_t>(cfg.log_cleaner_threads, 1);
  const size_t map_bytes_max = size_t(std::max<int64_t>(cfg.log_cleaner_dedupe_buffer_size / threads, 1));
  if (cfg.log_cleaner_threads == 0 || !_cleaner) {
    if (auto c = log.compact(now_ms, false, map_bytes_max, last_stable.value()); !c) {
      lg().error("{}: compaction failed: {}", log.tp(), c.error().message);
    }
    return;
  }
  if (_cleaning.contains(log.tp())) return;
  auto plan = log.plan_compaction(now_ms, false, map_bytes_max, last_stable.value());
  if (!plan) return;
  const topic_partition tp = log.tp();
  const storage::partition_log* target = &log;
  const uuid topic_id = log.topic_id();
  const std::filesystem::path dir = log.dir();
  std::weak_ptr<int> alive = _alive;
  auto& io = _core.io();
  const bool queued = _cleaner->submit([this, plan = std::move(*plan), tp, target, topic_id, dir, alive, &io] {
    auto out = storage::partition_log::run_compaction(plan);
    boost::asio::post(io, [this, out = std::move(out), tp, target, topic_id, dir, alive]() mutable {
      if (alive.expired()) return;
      finish_clean(tp, target, topic_id, dir, std::move(out));
    });
  });
  if (queued) _cleaning.insert(tp);
}

void log_maintenance::finish_clean(const topic_partition& tp, const storage::partition_log* target,
                                   uuid topic_id, const std::filesystem::path& dir,
                                   result<storage::compaction_output, storage::storage_error> out) {
  _cleaning.erase(tp);
  if (!out) {
    lg().error("{}: compaction failed: {}", tp, out.error().message);
    return;
  }
  replication::partition* p = _core.partitions().get(tp);
  // `target` is only compared, never dereferenced: the log it pointed at may be gone.
  if (!p || &p->log() != target || p->log().topic_id() != topic_id || p->log().closed()) {
    // The partition went away (or was recreated) while it was being cleaned.
    std::error_code ec;
    for (const auto& c : out->segments)
      std::filesystem::remove(dir / (storage::segment_file_stem(c.base_offset) + ".log.cleaned"), ec);
    return;
  }
  auto r = p->log().apply_compaction(*out, _core.clk().now_ms());
  if (!r) {
    lg().error("{}: compaction swap failed: {}", tp, r.error().message);
    return;
  }
  write_checkpoint(_core.logs().collect_checkpoint(), "offsets");
}

void log_maintenance::arm() {
  if (!_running) return;
  _timer.expires_after(std::chrono::milliseconds(_tick_ms));
  _timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !_running) return;
    run_once(_core.clk().now_ms());
    arm();
  });
}

void log_maintenance::run_once(int64_t now_ms) {
  const auto& cfg = _core.config();
  const bool retention_due = now_ms >= _next_retention_ms;
  bool checkpoint_due = now_ms >= _next_checkpoint_ms;
  const bool clean_due = cfg.log_cleaner_enable && now_ms >= _next_clean_ms;
  _core.partitions().for_each([&](replication::partition& p) {
    auto& log = p.log();
    if (log.closed()) return;
    if (auto f = log.maybe_flush(now_ms); !f) {
      lg().error("{}: timed flush failed: {}", log.tp(), f.error().message);
    }
    // Never past the last stable offset: an open transaction may still abort (Kafka's rule).
    if (clean_due && log.config().compact) start_clean(log, now_ms, _core.producers().last_stable_offset(p));
    if (retention_due) {
      const auto start_before = log.log_start_offset();
      auto r = log.enforce_retention(now_ms);
      if (!r) {
        lg().error("{}: retention failed: {}", log.tp(), r.error().message);
      } else if (log.log_start_offset() != start_before) {
        checkpoint_due = true;
        txn::delete_snapshots_before(log.dir(), log.log_start_offset());
      }
    }
    // Producer state follows the log start (retention above, DeleteRecords at any time).
    _core.producers().log_start_moved(p);
  });
  if (retention_due) {
    _next_retention_ms = now_ms + std::max<int64_t>(cfg.log_retention_check_interval_ms, 1);
  }
  if (clean_due) _next_clean_ms = now_ms + std::max<int64_t>(cfg.log_cleaner_backoff_ms, 1);
  if (now_ms >= _next_hw_checkpoint_ms) {
    write_checkpoint(_core.logs().collect_high_watermarks(_core.partitions().high_watermarks()), "high watermark");
    _next_hw_checkpoint_ms = now_ms + std::max<int64_t>(cfg.replica_high_watermark_checkpoint_interval_ms, 1);
  }
  if (checkpoint_due) {
    write_checkpoint(_core.logs().collect_checkpoint(), "offsets");
    _next_checkpoint_ms = now_ms + std::max<int64_t>(cfg.log_flush_offset_checkpoint_interval_ms, 1);
  }
}

}  // namespace gregor::server
