#include "http_admin.h"

#include <algorithm>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "gregor/base/log.h"
#include "gregor/config/broker_config.h"
#include "gregor/protocol/error_code.h"
#include "gregor/storage/readahead_budget.h"
#include "active_controller.h"
#include "broker_lifecycle.h"
#include "core.h"
#include "group_service.h"
#include "metadata_quorum.h"
#include "replication_metrics.h"

namespace gregor::server {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

http_admin::http_admin(asio::io_context& io, std::vector<std::string> listeners,
                       metrics::registry& registry)
    : _io(io), _listeners(std::move(listeners)), _registry(registry) {}

http_admin::~http_admin() {
  stop();
  if (_owns_collectors) _registry.clear_collectors();
}

void http_admin::add_collector(metrics::collector c) {
  _owns_collectors = true;
  _registry.add_collector(std::move(c));
}

startup_io_thread::startup_io_thread(asio::io_context& io)
    : _io(io), _work(io.get_executor()), _thread([&io] { io.run(); }) {}

startup_io_thread::~startup_io_thread() {
  _work.reset();
  _io.stop();
  _thread.join();
  _io.restart();
}

int64_t consumer_lag(int64_t high_watermark, int64_t committed_offset) {
  return std::max<int64_t>(0, high_watermark - committed_offset);
}

namespace {

// Committed offsets of every group the group service holds, against each partition's high
// watermark (what a consumer can read). Groups are only reported once the service has started (a
// scrape must not create __consumer_offsets); unknown partitions and offsets < 0 are skipped.
void collect_group_lag(metrics::sample_writer& w, core& c) {
  group_service* groups = c.groups_if_started();
  if (!groups) return;
  const auto& coordinator = groups->coordinator();
  for (const auto& listing : coordinator.list()) {
    int64_t sum = 0;
    bool any = false;
    for (const auto& [tp, committed] : coordinator.offsets_of(listing.group_id)) {
      replication::partition* p = c.partition(tp);
      if (!p || committed.offset < 0) continue;
      const int64_t lag = consumer_lag(p->high_watermark().value(), committed.offset);
      metrics::labels l{{"group", listing.group_id},
                        {"topic", tp.topic},
                        {"partition", std::to_string(tp.partition.value())}};
      w.gauge("gregor_consumer_group_committed_offset", "Committed offset, per group and partition.",
              l, double(committed.offset));
      w.gauge("gregor_consumer_group_lag",
              "High watermark minus committed offset, per group and partition.", l, double(lag));
      sum += lag;
      any = true;
    }
    if (any)
      w.gauge("gregor_consumer_group_lag_sum", "Consumer group lag summed over its partitions.",
              {{"group", listing.group_id}}, double(sum));
  }
}

// The KRaft quorum as this node sees it. In cluster mode from the raft node (the voters' lag only
// on the leader, the one node that tracks the others' log end offsets); on a single node, the
// one-voter quorum of the metadata store, as DescribeQuorum answers it.
void collect_quorum(metrics::sample_writer& w, core& c) {
  metadata_quorum* q = c.quorum();
  const bool single = q == nullptr;
  if (single && !c.has_metadata_store()) return;
  int64_t leader_id = c.self().value();
  int64_t leader_epoch_value = 0;
  int64_t high_watermark = 0;
  int64_t log_end = 0;
  int64_t applied = 0;
  bool leading = true;
  bool voter = true;
  if (q) {
    const raft_node& r = q->raft();
    const auto l = r.leader();
    leader_id = l.leader.value();
    leader_epoch_value = l.epoch.value();
    high_watermark = r.high_watermark().value();
    log_end = r.log_end_offset().value();
    applied = q->applied_offset().value();
    leading = r.is_leader();
    voter = q->is_voter();
  } else {
    leader_epoch_value = c.metadata().epoch().value();
    log_end = c.metadata().log().log_end_offset().value();
    high_watermark = log_end;  // every append is committed at once
    applied = log_end;
  }
  w.gauge("gregor_quorum_leader_id", "Node id of the KRaft quorum leader (-1 when unknown).", {},
          double(leader_id));
  w.gauge("gregor_quorum_leader_epoch", "Leader epoch of the KRaft quorum.", {}, double(leader_epoch_value));
  w.gauge("gregor_quorum_high_watermark", "High watermark of the metadata log (committed end).", {},
          double(high_watermark));
  w.gauge("gregor_quorum_log_end_offset", "Log end offset of this node's metadata log.", {}, double(log_end));
  w.gauge("gregor_quorum_is_leader", "1 when this node leads the KRaft quorum.", {}, leading ? 1 : 0);
  w.gauge("gregor_quorum_is_voter", "1 when this node is a voter of the KRaft quorum.", {}, voter ? 1 : 0);
  w.gauge("gregor_metadata_applied_offset", "End of the last metadata batch applied to the image.", {},
          double(applied));
  if (q && leading) {
    for (const auto& v : q->raft().describe_quorum().voters) {
      if (v.log_end_offset.value() < 0) continue;  // not heard from since this node leads
      w.gauge("gregor_quorum_voter_lag", "Leader's log end offset minus the voter's (leader only).",
              {{"voter", std::to_string(v.id.value())}},
              double(std::max<int64_t>(0, log_end - v.log_end_offset.value())));
    }
  }
  int64_t fenced = 0, unfenced = 0;
  for (const auto& [id, b] : c.image().brokers()) ++(b.fenced ? fenced : unfenced);
  const char* brokers_help = "Registered brokers in the metadata image, by state.";
  w.gauge("gregor_cluster_brokers", brokers_help, {{"state", "fenced"}}, double(fenced));
  w.gauge("gregor_cluster_brokers", brokers_help, {{"state", "unfenced"}}, double(unfenced));
  if (broker_lifecycle* lc = c.lifecycle()) {
    w.gauge("gregor_broker_epoch", "This broker's epoch from its registration (-1 until registered).", {},
            double(lc->broker_epoch()));
    w.gauge("gregor_broker_fenced", "1 while the controller keeps this broker fenced.", {},
            lc->fenced() ? 1 : 0);
  }
  // A single node is its own controller.
  const active_controller* ac = c.active_controller_if_any();
  w.gauge("gregor_controller_active", "1 when this node is the active controller.", {},
          single || (ac && ac->active()) ? 1 : 0);
}

}  // namespace

result<std::unique_ptr<http_admin>, std::string> start_http_admin(asio::io_context& io, core& c,
                                                                   const net::tcp_server& kafka) {
  auto admin = open_http_admin(io, c);
  if (!admin) return admin;
  add_broker_collectors(**admin, c, kafka);
  (*admin)->set_health(http_admin::health::serving);
  return admin;
}

result<std::unique_ptr<http_admin>, std::string> open_http_admin(asio::io_context& io, core& c) {
  auto admin = std::make_unique<http_admin>(io, c.config().http_listeners, metrics::registry::global());
  metrics::add_process_collector(metrics::registry::global());
  if (auto r = admin->start(); !r) return failure{r.error()};
  return admin;
}

namespace {
// Client quotas (client_quotas.h), per quota sensor: Kafka's byte-rate and throttle-time metrics of
// the Produce and Fetch groups, labelled by the sensor's user and client-id tags ("" where the
// quota that applies is not per user or not per client id).
void collect_client_quotas(metrics::sample_writer& w, core& c) {
  c.client_quotas().for_each_sensor(c.clk().monotonic_ms(), [&w](const client_quota_manager::sensor_view& s) {
    const metrics::labels l{{"type", quota_kind_name(s.kind)}, {"user", s.tags.user}, {"client_id", s.tags.client_id}};
    w.counter("gregor_quota_throttle_time_ms_total", "Milliseconds clients were throttled (muted) by client quotas.", l,
              s.throttle_ms_total);
    w.counter("gregor_quota_throttles_total", "Responses throttled by client quotas.", l, double(s.throttles));
    if (s.kind == client_quota_kind::controller_mutation && s.limit)
      w.gauge("gregor_quota_controller_mutation_tokens", "Partitions left in the controller mutation token bucket.", l,
              s.rate);
    if (s.kind != client_quota_kind::produce && s.kind != client_quota_kind::fetch) return;
    w.gauge("gregor_quota_byte_rate", "Bytes per second over the quota window (Kafka's byte-rate).", l, s.rate);
    w.counter("gregor_quota_bytes_total", "Bytes counted against client quotas.", l, s.recorded_total);
    if (s.limit) w.gauge("gregor_quota_byte_rate_limit", "The byte-rate quota that applies.", l, *s.limit);
  });
}

// The logs' tail cache (storage/tail_cache.h): memory it holds against its bound, and where reads
// of log data came from.
void collect_tail_cache(metrics::sample_writer& w, core& c) {
  const storage::tail_cache& tc = c.logs().cache();
  w.gauge("gregor_log_tail_cache_bytes", "Memory holding recently appended log data (log.tail.cache.max.bytes).",
          {}, double(tc.bytes()));
  w.gauge("gregor_log_tail_cache_max_bytes", "The bound of the tail cache (log.tail.cache.max.bytes).", {},
          double(tc.max_bytes()));
  w.gauge("gregor_log_readahead_bytes",
          "Memory held by read buffers of direct-I/O segments, in use or kept for reuse (log.readahead.max.bytes).", {},
          double(storage::readahead_allocated_bytes()));
  w.gauge("gregor_log_readahead_max_bytes", "The bound of the readahead buffers (log.readahead.max.bytes).", {},
          double(storage::readahead_max_bytes()));
  w.counter("gregor_log_readahead_refused_total",
            "Background reads not started because the readahead buffers were all in use (log.readahead.max.bytes).", {},
            double(storage::readahead_refused_reads()));
  w.gauge("gregor_fetch_memory_bytes", "Consumer records held for Fetch responses until written (fetch.memory.max.bytes).",
          {}, double(c.fetch_memory_account().in_use()));
  w.gauge("gregor_fetch_memory_max_bytes", "The bound on consumer records held for Fetch responses (fetch.memory.max.bytes).",
          {}, double(c.fetch_memory_account().max_bytes()));
  const char* read_help = "Log bytes read for fetches, by where they came from (memory: the tail cache; file).";
  w.counter("gregor_log_read_bytes_total", read_help, {{"source", "memory"}}, double(tc.hit_bytes()));
  w.counter("gregor_log_read_bytes_total", read_help, {{"source", "file"}}, double(tc.miss_bytes()));
  w.counter("gregor_log_tail_cache_evicted_bytes_total", "Bytes the tail cache dropped to stay within its bound.",
            {}, double(tc.evicted_bytes()));
}

// The log directory's disk writer (storage/disk_writer.h): appends waiting for the device, and how
// the writes went.
void collect_disk_writer(metrics::sample_writer& w, core& c) {
  const storage::disk_writer* dw = c.logs().writer();
  if (!dw) return;
  w.gauge("gregor_log_unwritten_bytes", "Appended bytes the disk writer has not written yet (log.async.writes.max.bytes bounds it).",
          {}, double(dw->unwritten_bytes()));
  w.gauge("gregor_log_unwritten_max_bytes", "The bound of unwritten appended bytes (log.async.writes.max.bytes).", {},
          double(dw->max_unwritten_bytes()));
  w.counter("gregor_log_written_bytes_total", "Appended bytes the disk writer wrote to segment files.", {},
            double(dw->written_bytes()));
  w.counter("gregor_log_writes_total", "Appends the disk writer wrote.", {}, double(dw->writes()));
  w.counter("gregor_log_write_rounds_total", "Rounds of the disk writer (each writes what was queued when it began).",
            {}, double(dw->rounds()));
  w.counter("gregor_log_write_full_waits_total",
            "Appends that waited for the disk writer because log.async.writes.max.bytes was reached.", {},
            double(dw->full_waits()));
  w.counter("gregor_log_write_failures_total", "Partitions whose disk write failed (they refuse appends until restart).",
            {}, double(dw->failures()));
}
}  // namespace

void add_broker_collectors(http_admin& admin, core& c, const net::tcp_server& kafka) {
  admin.add_collector([&c](metrics::sample_writer& w) { collect_tail_cache(w, c); });
  admin.add_collector([&c](metrics::sample_writer& w) { collect_disk_writer(w, c); });
  admin.add_collector([&c](metrics::sample_writer& w) { collect_client_quotas(w, c); });
  admin.add_collector([&c](metrics::sample_writer& w) { collect_group_lag(w, c); });
  admin.add_collector([&c](metrics::sample_writer& w) { collect_quorum(w, c); });
  admin.add_collector(replication_collector(c));
  admin.add_collector([&c, &kafka](metrics::sample_writer& w) {
    auto s = kafka.counters();
    w.gauge("gregor_connections_active", "Open Kafka client connections.", {},
            double(kafka.connection_count()));
    w.counter("gregor_connections_accepted_total", "Kafka client connections accepted.", {},
              double(s.accepted));
    w.counter("gregor_connections_closed_total", "Kafka client connections closed.", {},
              double(s.closed));
    w.counter("gregor_network_bytes_in_total", "Bytes read from Kafka clients.", {}, double(s.bytes_in));
    w.counter("gregor_network_bytes_out_total", "Bytes written to Kafka clients.", {},
              double(s.bytes_out));
    w.counter("gregor_network_frames_in_total", "Kafka request frames read.", {}, double(s.frames_in));
    w.counter("gregor_network_frames_rejected_total", "Kafka request frames refused (size, memory).",
              {}, double(s.rejected_frames));
    double partitions = 0, leaders = 0;
    w.gauge("gregor_topics", "Topics in the metadata image.", {}, double(c.image().topics().size()));
    for (const auto& [name, t] : c.image().topics()) {
      for (size_t i = 0; i < t.partitions.size(); ++i) {
        replication::partition* p = c.partition(topic_partition{name, partition_id(int32_t(i))});
        if (!p) continue;
        ++partitions;
        if (p->is_leader()) ++leaders;
        metrics::labels l{{"topic", name}, {"partition", std::to_string(i)}};
        w.gauge("gregor_partition_log_size_bytes", "Bytes on disk of a partition's log.", l,
                double(p->log().size_bytes()));
        w.gauge("gregor_partition_log_end_offset", "Next offset to be written, per partition.", l,
                double(p->log().log_end_offset().value()));
        w.gauge("gregor_partition_high_watermark", "High watermark, per partition.", l,
                double(p->high_watermark().value()));
      }
    }
    w.gauge("gregor_fetch_sessions", "KIP-227 incremental fetch sessions cached (Kafka's NumIncrementalFetchSessions).",
            {}, double(c.fetch_sessions().size()));
    w.gauge("gregor_fetch_session_partitions",
            "Partitions cached over all fetch sessions (Kafka's NumIncrementalFetchPartitionsCached).", {},
            double(c.fetch_sessions().partitions_cached()));
    w.counter("gregor_fetch_session_evictions_total", "Fetch sessions evicted to make room for new ones.", {},
              double(c.fetch_sessions().evictions()));
    w.counter("gregor_fetch_sessions_created_total", "Fetch sessions created (full fetches with epoch 0).", {},
              double(c.fetch_sessions().created()));
    w.gauge("gregor_partitions", "Partition replicas hosted by this broker.", {}, partitions);
    w.gauge("gregor_partitions_leader", "Partitions this broker leads.", {}, leaders);
  });
}

result<void, std::string> http_admin::start() {
  for (const auto& text : _listeners) {
    config::listener l;
    if (auto why = config::parse_listener(text, l); !why.empty())
      return failure{fmt::format("http listener '{}': {}", text, why)};
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(l.host.empty() ? "0.0.0.0" : l.host, ec);
    if (ec) {
      // A host name: resolve it once.
      tcp::resolver resolver(_io);
      auto results = resolver.resolve(l.host, std::to_string(l.port), ec);
      if (ec || results.empty())
        return failure{fmt::format("http listener '{}': cannot resolve host: {}", text, ec.message())};
      addr = results.begin()->endpoint().address();
    }
    tcp::endpoint ep(addr, uint16_t(l.port));
    auto& acceptor = _acceptors.emplace_back(_io);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return failure{fmt::format("cannot listen on {}: {}", text, ec.message())};
    _ports.push_back(acceptor.local_endpoint().port());
    log::get("http").info("admin listening on http://{}:{}", ep.address().to_string(), _ports.back());
    asio::co_spawn(_io, accept_loop(acceptor), asio::detached);
  }
  return ok;
}

void http_admin::stop() {
  if (_stopped) return;
  _stopped = true;
  boost::system::error_code ec;
  for (auto& a : _acceptors) a.close(ec);
  for (auto& w : _sessions)
    if (auto s = w.lock()) s->close(ec);
  _sessions.clear();
}

asio::awaitable<void> http_admin::accept_loop(tcp::acceptor& acceptor) {
  while (!_stopped) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (_stopped || ec == asio::error::operation_aborted) co_return;
      log::get("http").warn("accept failed: {}", ec.message());
      continue;
    }
    auto s = std::make_shared<tcp::socket>(std::move(socket));
    // Forget sessions that have ended so the list stays small.
    _sessions.remove_if([](const auto& w) { return w.expired(); });
    _sessions.push_back(s);
    asio::co_spawn(_io, session(s), asio::detached);
  }
}

asio::awaitable<void> http_admin::session(std::shared_ptr<tcp::socket> socket) {
  beast::flat_buffer buffer(8192);
  for (;;) {
    http::request_parser<http::empty_body> parser;
    parser.header_limit(16 * 1024);
    auto [rec, n] = co_await http::async_read(*socket, buffer, parser,
                                              asio::as_tuple(asio::use_awaitable));
    if (rec) co_return;  // closed, malformed or stopped: nothing to answer
    const auto& req = parser.get();
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(req.keep_alive());
    res.set(http::field::server, "gregor");
    std::string_view target(req.target().data(), req.target().size());
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, "GET, HEAD");
      res.body() = "method not allowed\n";
    } else if (target == "/metrics") {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = _registry.render();
    } else if (target == "/health" || target == "/healthz") {
      const char* state = _health == health::serving    ? "serving"
                          : _health == health::starting ? "starting"
                                                        : "stopping";
      res.result(_health == health::serving ? http::status::ok : http::status::service_unavailable);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = std::string(state) + "\n";
    } else {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "not found: try /metrics or /health\n";
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    auto [wec, wn] = co_await http::async_write(*socket, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !res.keep_alive()) {
      boost::system::error_code ignored;
      socket->shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
  }
}

void record_request(std::string_view api, int16_t version, const net::connection_info& conn,
                    const std::optional<std::string>& client_id,
                    std::chrono::steady_clock::duration elapsed, const net::frame_outcome& out) {
  // Route names are static strings, so the metric objects are looked up once per API.
  struct api_metrics {
    metrics::counter* requests;
    metrics::histogram* latency;
    metrics::counter* failed;
  };
  thread_local std::unordered_map<std::string_view, api_metrics> cache;
  auto it = cache.find(api);
  if (it == cache.end()) {
    auto& reg = metrics::registry::global();
    metrics::labels l{{"api", std::string(api)}};
    api_metrics m{
        &reg.counter("gregor_requests_total", "Kafka requests handled, per API.", l),
        &reg.histogram("gregor_request_latency_seconds", "Kafka request handling latency, per API.", l),
        &reg.counter("gregor_requests_failed_total",
                     "Kafka requests answered by closing the connection, per API.", l)};
    it = cache.emplace(api, m).first;
  }
  const double seconds = std::chrono::duration<double>(elapsed).count();
  it->second.requests->inc();
  it->second.latency->observe(seconds);
  if (out.what == net::frame_outcome::kind::close) it->second.failed->inc();
  auto& logger = log::get("request");
  if (logger.should_log(spdlog::level::debug))
    logger.debug("api={} v={} client={} peer={} latency_us={} outcome={}", api, version,
                 client_id.value_or("-"), conn.peer,
                 std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count(),
                 out.what == net::frame_outcome::kind::close         ? "close"
                 : out.what == net::frame_outcome::kind::no_response ? "no_response"
                                                                     : "respond");
}

void record_produced(const std::string& topic, size_t bytes, int64_t records) {
  auto& reg = metrics::registry::global();
  metrics::labels l{{"topic", topic}};
  reg.counter("gregor_topic_bytes_in_total", "Record batch bytes appended, per topic.", l)
      .inc(double(bytes));
  reg.counter("gregor_topic_records_in_total", "Records appended, per topic.", l)
      .inc(double(records));
}

void record_fetched(const std::string& topic, size_t bytes, int64_t records) {
  auto& reg = metrics::registry::global();
  metrics::labels l{{"topic", topic}};
  reg.counter("gregor_topic_bytes_out_total", "Record batch bytes returned by Fetch, per topic.", l)
      .inc(double(bytes));
  reg.counter("gregor_topic_records_out_total", "Records returned by Fetch, per topic.", l)
      .inc(double(records));
}

void record_response_error(std::string_view api, int16_t error_code) {
  if (error_code == 0) return;
  metrics::registry::global()
      .counter("gregor_request_errors_total",
               "Kafka error codes in responses (top level, per topic/partition/resource), per API "
               "and error.",
               {{"api", std::string(api)},
                {"error", std::string(protocol::error_name(protocol::error_code(error_code)))}})
      .inc();
}

}  // namespace gregor::server
