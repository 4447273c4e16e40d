#pragma once
// http_admin: the HTTP admin listener (http.listeners, Boost.Beast). Serves
//   GET /metrics  the metrics registry in Prometheus text format (0.0.4)
//   GET /health   200 "serving" while serving, 503 "starting"/"stopping" otherwise
// and 404/405 for anything else. Owned by the broker, which sets the health state as it starts and
// stops. Runs on the broker's io_context thread (so scrape-time collectors may read core); only
// during start-up, before any core collector is registered, a startup_io_thread drives that
// io_context so /health answers 503 "starting" while the logs recover.
//
// Also home of the per-request instrumentation the dispatcher calls (record_request) and the
// per-topic produce counters (record_produced), which write into metrics::registry::global().
#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <optional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gregor/base/result.h"
#include "gregor/metrics/registry.h"
#include "gregor/net/tcp_server.h"

namespace gregor::server {

class core;

class http_admin {
 public:
  enum class health { starting, serving, stopping };

  // listeners: "http://host:port" (port 0 = ephemeral), as validated by the config module.
  http_admin(boost::asio::io_context& io, std::vector<std::string> listeners,
             metrics::registry& registry);
  ~http_admin();

  // Binds every listener and starts accepting; the error names the address.
  result<void, std::string> start();
  std::vector<uint16_t> bound_ports() const { return _ports; }
  // Atomic: start-up sets it from the main thread while startup_io_thread serves /health.
  void set_health(health h) { _health.store(h); }
  health current_health() const { return _health.load(); }
  // Closes the acceptors and every open admin connection. Call on the io thread.
  void stop();
  // Registers a scrape-time collector that is removed when this admin goes away.
  void add_collector(metrics::collector c);

 private:
  boost::asio::awaitable<void> accept_loop(boost::asio::ip::tcp::acceptor& acceptor);
  boost::asio::awaitable<void> session(std::shared_ptr<boost::asio::ip::tcp::socket> socket);

  boost::asio::io_context& _io;
  std::vector<std::string> _listeners;
  metrics::registry& _registry;
  std::list<boost::asio::ip::tcp::acceptor> _acceptors;
  std::list<std::weak_ptr<boost::asio::ip::tcp::socket>> _sessions;
  std::vector<uint16_t> _ports;
  std::atomic<health> _health{health::starting};
  bool _stopped = false;
  bool _owns_collectors = false;
};

// Builds the broker's admin listener from core.config().http_listeners (none: a stopped admin that
// only tracks health), registers the broker collectors (connections, network counters, partitions,
// log size and offsets per partition, consumer group lag, process RSS/CPU) and starts it in the
// serving state. Equivalent to open_http_admin + add_broker_collectors + set_health(serving).
result<std::unique_ptr<http_admin>, std::string> start_http_admin(boost::asio::io_context& io,
                                                                   core& c,
                                                                   const net::tcp_server& kafka);

// Start-up order (broker::start): open_http_admin binds the admin listener in the `starting` state
// with only the process collector (it must not read core, which is still opening); then, once the
// core is open and the Kafka listener bound, add_broker_collectors and set_health(serving).
result<std::unique_ptr<http_admin>, std::string> open_http_admin(boost::asio::io_context& io,
                                                                  core& c);
void add_broker_collectors(http_admin& admin, core& c, const net::tcp_server& kafka);

// Runs `io` on a helper thread for its lifetime, so the admin listener answers /health (503
// starting) while the main thread does blocking start-up work (log recovery in core::open). The
// destructor stops io, joins and restarts it: pending handlers (the admin's accept loops and
// sessions) carry on when the broker's run() drives io. Start-up work must not post to io.
class startup_io_thread {
 public:
  explicit startup_io_thread(boost::asio::io_context& io);
  ~startup_io_thread();
  startup_io_thread(const startup_io_thread&) = delete;
  startup_io_thread& operator=(const startup_io_thread&) = delete;

 private:
  boost::asio::io_context& _io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> _work;
  std::thread _thread;
};

// Consumer group lag of one committed partition: the high watermark minus the committed offset,
// never below 0 (a committed offset past the end, e.g. after truncation, is no lag).
int64_t consumer_lag(int64_t high_watermark, int64_t committed_offset);

// Dispatcher instrumentation (`api` must be a static string: route names are): one Kafka request finished (count, latency histogram per API,
// failures = connection closed instead of answered) plus the debug-level request log line.
void record_request(std::string_view api, int16_t version, const net::connection_info& conn,
                    const std::optional<std::string>& client_id,
                    std::chrono::steady_clock::duration elapsed, const net::frame_outcome& out);

// Produce instrumentation: bytes and records appended to a topic.
void record_produced(const std::string& topic, size_t bytes, int64_t records);
// Per-topic consume counters: bytes and records returned by Fetch (whole batches, as sent).
void record_fetched(const std::string& topic, size_t bytes, int64_t records);
// One non-zero Kafka error code in a response (dispatcher, from request_context::error_codes):
// gregor_request_errors_total{api,error}.
void record_response_error(std::string_view api, int16_t error_code);

}  // namespace gregor::server
