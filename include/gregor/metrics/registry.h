#pragma once
// metrics::registry: the process's metrics, rendered in the Prometheus text exposition format
// (version 0.0.4). Holds counters and histograms that code updates as events happen, plus
// collectors: callbacks that report values computed at scrape time (gauges such as partition
// sizes, connection counts, process RSS).
//
// Owned by whoever builds it; the broker uses registry::global(). Metric objects returned by
// counter()/histogram() live as long as the registry and never move, so callers may keep the
// reference. Updates are lock-free atomics and may come from any thread; registration and
// rendering take a mutex. No Asio, no I/O besides /proc reads in the process collector.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gregor::metrics {

// Label name/value pairs, in the order they are printed.
using labels = std::vector<std::pair<std::string, std::string>>;

enum class metric_type { counter, gauge, histogram };

class counter {
 public:
  void inc(double by = 1.0) { _value.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return _value.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> _value{0.0};
};

// Cumulative histogram with fixed upper bounds (the +Inf bucket is implicit).
class histogram {
 public:
  explicit histogram(std::vector<double> upper_bounds);
  void observe(double v);
  const std::vector<double>& upper_bounds() const { return _bounds; }
  // Non-cumulative count of bucket i (i == upper_bounds().size() is the +Inf overflow bucket).
  uint64_t bucket_count(size_t i) const { return _counts[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return _count.load(std::memory_order_relaxed); }
  double sum() const { return _sum.load(std::memory_order_relaxed); }

 private:
  std::vector<double> _bounds;
  std::unique_ptr<std::atomic<uint64_t>[]> _counts;
  std::atomic<uint64_t> _count{0};
  std::atomic<double> _sum{0.0};
};

// Default latency buckets in seconds: 0.5 ms .. 10 s.
std::vector<double> latency_buckets_seconds();

// What a collector writes at scrape time.
class sample_writer {
 public:
  virtual ~sample_writer() = default;
  virtual void gauge(std::string_view name, std::string_view help, const labels& l, double v) = 0;
  virtual void counter(std::string_view name, std::string_view help, const labels& l, double v) = 0;
};

using collector = std::function<void(sample_writer&)>;

class registry {
 public:
  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  // The process-wide registry the broker reports into.
  static registry& global();

  // Get-or-create. The same name must always be used with the same type (and, for histograms,
  // bounds); a mismatch is a programmer error. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*.
  metrics::counter& counter(std::string_view name, std::string_view help, const labels& l = {});
  metrics::histogram& histogram(std::string_view name, std::string_view help, const labels& l = {},
                                std::vector<double> upper_bounds = latency_buckets_seconds());

  void add_collector(collector c);
  // Drops every collector (their owner is going away); counters and histograms stay.
  void clear_collectors();

  // The whole registry in the Prometheus text format, families sorted by name.
  std::string render() const;

 private:
  struct family {
    metric_type type = metric_type::counter;
    std::string help;
    std::map<labels, std::unique_ptr<metrics::counter>> counters;
    std::map<labels, std::unique_ptr<metrics::histogram>> histograms;
  };
  mutable std::mutex _mu;
  std::map<std::string, family, std::less<>> _families;
  std::vector<collector> _collectors;
};

// Adds process_resident_memory_bytes, process_virtual_memory_bytes, process_cpu_seconds_total,
// process_open_fds and process_start_time_seconds (Linux /proc; missing values are skipped).
void add_process_collector(registry& r);

// Text-format helpers (exposed for tests).
std::string escape_label_value(std::string_view v);
std::string format_value(double v);
bool is_valid_metric_name(std::string_view name);

}  // namespace gregor::metrics
