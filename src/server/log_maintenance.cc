#include "log_maintenance.h"

#include <algorithm>
#include <chrono>

#include "core.h"
#include "gregor/base/log.h"

namespace gregor::server {
namespace {
spdlog::logger& lg() { return log::get("storage"); }
}  // namespace

log_maintenance::log_maintenance(core& c) : _core(c), _timer(c.io()) {
  const auto& cfg = c.config();
  _tick_ms = std::clamp<int64_t>(cfg.log_retention_check_interval_ms, 10, 1000);
  const int64_t now = c.clk().now_ms();
  _next_retention_ms = now + std::max<int64_t>(cfg.log_retention_check_interval_ms, 1);
  _next_checkpoint_ms = now + std::max<int64_t>(cfg.log_flush_offset_checkpoint_interval_ms, 1);
  _next_clean_ms = now + std::max<int64_t>(cfg.log_cleaner_backoff_ms, 1);
  _tick_ms = std::min(_tick_ms, std::clamp<int64_t>(cfg.log_cleaner_backoff_ms, 10, 1000));
}

void log_maintenance::start() {
  if (_running) return;
  _running = true;
  arm();
}

void log_maintenance::stop() {
  _running = false;
  _timer.cancel();
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
    if (clean_due && log.config().compact) {
      if (auto c = log.compact(now_ms); !c) lg().error("{}: compaction failed: {}", log.tp(), c.error().message);
    }
    if (!retention_due) return;
    const auto start_before = log.log_start_offset();
    auto r = log.enforce_retention(now_ms);
    if (!r) {
      lg().error("{}: retention failed: {}", log.tp(), r.error().message);
      return;
    }
    if (log.log_start_offset() != start_before) checkpoint_due = true;
  });
  if (retention_due) {
    _next_retention_ms = now_ms + std::max<int64_t>(cfg.log_retention_check_interval_ms, 1);
  }
  if (clean_due) _next_clean_ms = now_ms + std::max<int64_t>(cfg.log_cleaner_backoff_ms, 1);
  if (checkpoint_due) {
    if (auto c = _core.logs().checkpoint(); !c) lg().error("checkpoint failed: {}", c.error().message);
    _next_checkpoint_ms = now_ms + std::max<int64_t>(cfg.log_flush_offset_checkpoint_interval_ms, 1);
  }
}

}  // namespace gregor::server
