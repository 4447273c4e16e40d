// Proves the metrics registry counts, buckets and renders valid Prometheus text exposition.
#include <gtest/gtest.h>

#include <thread>

#include "gregor/metrics/registry.h"

using namespace gregor::metrics;

namespace {
bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}
}  // namespace

TEST(metrics_counter, increments_and_renders_with_help_and_type_once) {
  registry r;
  r.counter("gregor_requests_total", "Requests.", {{"api", "Produce"}}).inc();
  r.counter("gregor_requests_total", "Requests.", {{"api", "Produce"}}).inc(2);
  r.counter("gregor_requests_total", "Requests.", {{"api", "Fetch"}}).inc();
  std::string text = r.render();
  EXPECT_TRUE(contains(text, "# HELP gregor_requests_total Requests.\n"));
  EXPECT_TRUE(contains(text, "# TYPE gregor_requests_total counter\n"));
  EXPECT_TRUE(contains(text, "gregor_requests_total{api=\"Produce\"} 3\n"));
  EXPECT_TRUE(contains(text, "gregor_requests_total{api=\"Fetch\"} 1\n"));
  EXPECT_EQ(text.find("# TYPE"), text.rfind("# TYPE"));
}

TEST(metrics_counter, same_labels_return_the_same_object) {
  registry r;
  auto& a = r.counter("x_total", "", {{"k", "v"}});
  auto& b = r.counter("x_total", "", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
}

TEST(metrics_counter, concurrent_increments_are_not_lost) {
  registry r;
  auto& c = r.counter("c_total", "");
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) c.inc();
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.value(), 40000);
}

TEST(metrics_histogram, buckets_are_cumulative_and_count_matches_inf_bucket) {
  registry r;
  auto& h = r.histogram("lat_seconds", "Latency.", {{"api", "Fetch"}}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.1);  // on the bound: counts in le=0.1
  h.observe(0.5);
  h.observe(7);
  std::string text = r.render();
  EXPECT_TRUE(contains(text, "# TYPE lat_seconds histogram\n"));
  EXPECT_TRUE(contains(text, "lat_seconds_bucket{api=\"Fetch\",le=\"0.1\"} 2\n"));
  EXPECT_TRUE(contains(text, "lat_seconds_bucket{api=\"Fetch\",le=\"1\"} 3\n"));
  EXPECT_TRUE(contains(text, "lat_seconds_bucket{api=\"Fetch\",le=\"+Inf\"} 4\n"));
  EXPECT_TRUE(contains(text, "lat_seconds_count{api=\"Fetch\"} 4\n"));
  EXPECT_TRUE(contains(text, "lat_seconds_sum{api=\"Fetch\"} 7.65\n"));
}

TEST(metrics_collector, scrape_time_gauges_are_rendered_and_cleared) {
  registry r;
  int calls = 0;
  r.add_collector([&](sample_writer& w) {
    ++calls;
    w.gauge("gregor_partitions", "Partitions.", {}, 3);
    w.gauge("gregor_log_size_bytes", "Size.", {{"topic", "a"}, {"partition", "0"}}, 100);
    w.gauge("bad name", "ignored", {}, 1);  // invalid names are skipped, not rendered
  });
  std::string text = r.render();
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(contains(text, "# TYPE gregor_partitions gauge\ngregor_partitions 3\n"));
  EXPECT_TRUE(contains(text, "gregor_log_size_bytes{topic=\"a\",partition=\"0\"} 100\n"));
  EXPECT_FALSE(contains(text, "bad name"));
  r.clear_collectors();
  EXPECT_FALSE(contains(r.render(), "gregor_partitions"));
}

TEST(metrics_text, label_values_are_escaped) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  registry r;
  r.counter("e_total", "", {{"client", "we\"ird"}}).inc();
  EXPECT_TRUE(contains(r.render(), "e_total{client=\"we\\\"ird\"} 1\n"));
}

TEST(metrics_text, values_format_as_prometheus_numbers) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(0.25), "0.25");
  EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(format_value(-1.0 / 0.0), "-Inf");
  EXPECT_EQ(format_value(0.0 / 0.0), "NaN");
}

TEST(metrics_text, metric_names_are_validated) {
  EXPECT_TRUE(is_valid_metric_name("gregor_bytes_in_total"));
  EXPECT_TRUE(is_valid_metric_name("a:b_c"));
  EXPECT_FALSE(is_valid_metric_name(""));
  EXPECT_FALSE(is_valid_metric_name("1abc"));
  EXPECT_FALSE(is_valid_metric_name("a-b"));
}

TEST(metrics_process, process_collector_reports_rss_and_cpu) {
  registry r;
  add_process_collector(r);
  std::string text = r.render();
  EXPECT_TRUE(contains(text, "# TYPE process_resident_memory_bytes gauge\n"));
  EXPECT_TRUE(contains(text, "# TYPE process_cpu_seconds_total counter\n"));
}
