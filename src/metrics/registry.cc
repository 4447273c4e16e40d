#include "gregor/metrics/registry.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <dirent.h>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "gregor/base/assert.h"

namespace gregor::metrics {

histogram::histogram(std::vector<double> upper_bounds)
    : _bounds(std::move(upper_bounds)),
      _counts(new std::atomic<uint64_t>[_bounds.size() + 1]) {
  for (size_t i = 0; i + 1 < _bounds.size(); ++i)
    GREGOR_ASSERT(_bounds[i] < _bounds[i + 1]);
  for (size_t i = 0; i <= _bounds.size(); ++i) _counts[i].store(0);
}

void histogram::observe(double v) {
  size_t i = 0;
  while (i < _bounds.size() && v > _bounds[i]) ++i;
  _counts[i].fetch_add(1, std::memory_order_relaxed);
  _count.fetch_add(1, std::memory_order_relaxed);
  _sum.fetch_add(v, std::memory_order_relaxed);
}

std::vector<double> latency_buckets_seconds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

bool is_valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string label_text(const labels& l, const std::pair<std::string, std::string>* extra = nullptr) {
  if (l.empty() && !extra) return {};
  std::string out = "{";
  bool first = true;
  auto add = [&](const std::string& k, const std::string& v) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  };
  for (const auto& [k, v] : l) add(k, v);
  if (extra) add(extra->first, extra->second);
  out += '}';
  return out;
}

const char* type_name(metric_type t) {
  switch (t) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
  }
  return "untyped";
}

// Families being rendered: name → type, help and sample lines.
struct rendered_family {
  metric_type type;
  std::string help;
  std::vector<std::string> lines;
};

class collecting_writer final : public sample_writer {
 public:
  explicit collecting_writer(std::map<std::string, rendered_family, std::less<>>& out) : _out(out) {}
  void gauge(std::string_view name, std::string_view help, const labels& l, double v) override {
    add(metric_type::gauge, name, help, l, v);
  }
  void counter(std::string_view name, std::string_view help, const labels& l, double v) override {
    add(metric_type::counter, name, help, l, v);
  }

 private:
  void add(metric_type t, std::string_view name, std::string_view help, const labels& l, double v) {
    if (!is_valid_metric_name(name)) return;  // a collector bug must not break the scrape
    auto it = _out.find(name);
    if (it == _out.end())
      it = _out.emplace(std::string(name), rendered_family{t, std::string(help), {}}).first;
    else if (it->second.type != t)
      return;
    it->second.lines.push_back(fmt::format("{}{} {}", name, label_text(l), format_value(v)));
  }
  std::map<std::string, rendered_family, std::less<>>& _out;
};

}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", int64_t(v));
  return fmt::format("{}", v);
}

registry& registry::global() {
  static registry r;
  return r;
}

metrics::counter& registry::counter(std::string_view name, std::string_view help, const labels& l) {
  GREGOR_ASSERT(is_valid_metric_name(name));
  std::lock_guard lk(_mu);
  auto it = _families.find(name);
  if (it == _families.end()) {
    it = _families.emplace(std::string(name), family{}).first;
    it->second.type = metric_type::counter;
    it->second.help = std::string(help);
  }
  GREGOR_ASSERT(it->second.type == metric_type::counter);
  auto& slot = it->second.counters[l];
  if (!slot) slot = std::make_unique<metrics::counter>();
  return *slot;
}

metrics::histogram& registry::histogram(std::string_view name, std::string_view help, const labels& l,
                                        std::vector<double> upper_bounds) {
  GREGOR_ASSERT(is_valid_metric_name(name));
  std::lock_guard lk(_mu);
  auto it = _families.find(name);
  if (it == _families.end()) {
    it = _families.emplace(std::string(name), family{}).first;
    it->second.type = metric_type::histogram;
    it->second.help = std::string(help);
  }
  GREGOR_ASSERT(it->second.type == metric_type::histogram);
  auto& slot = it->second.histograms[l];
  if (!slot) slot = std::make_unique<metrics::histogram>(std::move(upper_bounds));
  return *slot;
}

void registry::add_collector(collector c) {
  std::lock_guard lk(_mu);
  _collectors.push_back(std::move(c));
}

void registry::clear_collectors() {
  std::lock_guard lk(_mu);
  _collectors.clear();
}

std::string registry::render() const {
  std::map<std::string, rendered_family, std::less<>> out;
  std::vector<collector> collectors;
  {
    std::lock_guard lk(_mu);
    collectors = _collectors;
    for (const auto& [name, f] : _families) {
      rendered_family rf{f.type, f.help, {}};
      for (const auto& [l, c] : f.counters)
        rf.lines.push_back(fmt::format("{}{} {}", name, label_text(l), format_value(c->value())));
      for (const auto& [l, h] : f.histograms) {
        uint64_t cumulative = 0;
        const auto& b = h->upper_bounds();
        for (size_t i = 0; i <= b.size(); ++i) {
          cumulative += h->bucket_count(i);
          std::pair<std::string, std::string> le{"le", i < b.size() ? format_value(b[i]) : "+Inf"};
          rf.lines.push_back(fmt::format("{}_bucket{} {}", name, label_text(l, &le), cumulative));
        }
        rf.lines.push_back(fmt::format("{}_sum{} {}", name, label_text(l), format_value(h->sum())));
        // The count line equals the +Inf bucket (read once, so a concurrent observe cannot split them).
        rf.lines.push_back(fmt::format("{}_count{} {}", name, label_text(l), cumulative));
      }
      out.emplace(name, std::move(rf));
    }
  }
  collecting_writer w(out);
  for (const auto& c : collectors) c(w);
  std::string text;
  for (const auto& [name, f] : out) {
    if (f.lines.empty()) continue;
    if (!f.help.empty()) text += fmt::format("# HELP {} {}\n", name, escape_help(f.help));
    text += fmt::format("# TYPE {} {}\n", name, type_name(f.type));
    for (const auto& line : f.lines) {
      text += line;
      text += '\n';
    }
  }
  return text;
}

namespace {

double process_start_time_seconds() {
  // Field 22 of /proc/self/stat is the start time in clock ticks since boot.
  std::ifstream stat("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = content.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(content.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 22) {
      std::ifstream up("/proc/stat");
      std::string key;
      double btime = -1;
      while (up >> key) {
        if (key == "btime") {
          up >> btime;
          break;
        }
      }
      if (btime < 0) return -1;
      return btime + std::stod(field) / double(sysconf(_SC_CLK_TCK));
    }
  }
  return -1;
}

}  // namespace

void add_process_collector(registry& r) {
  double start = process_start_time_seconds();
  r.add_collector([start](sample_writer& w) {
    long page = sysconf(_SC_PAGESIZE);
    std::ifstream statm("/proc/self/statm");
    uint64_t vm_pages = 0, rss_pages = 0;
    if (statm >> vm_pages >> rss_pages) {
      w.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", {},
              double(rss_pages) * double(page));
      w.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", {},
              double(vm_pages) * double(page));
    }
    rusage ru{};
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
      double cpu = double(ru.ru_utime.tv_sec) + double(ru.ru_utime.tv_usec) / 1e6 +
                   double(ru.ru_stime.tv_sec) + double(ru.ru_stime.tv_usec) / 1e6;
      w.counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", {},
                cpu);
    }
    if (DIR* d = opendir("/proc/self/fd")) {
      int n = 0;
      while (readdir(d)) ++n;
      closedir(d);
      w.gauge("process_open_fds", "Number of open file descriptors.", {}, double(std::max(0, n - 3)));
    }
    if (start > 0)
      w.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
              {}, start);
  });
}

}  // namespace gregor::metrics
