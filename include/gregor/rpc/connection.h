#pragma once
// rpc::connection: one non-blocking Kafka-protocol connection from this broker to another node
// (broker-to-broker, broker-to-controller, Raft voter to voter).
//
// Lifecycle: create() → open() (connect with a timeout, then ApiVersions) → call()... → close()
// or stop(). A connection is opened once; after it closes (for any reason) it stays closed and a
// new one is made (node_pool does that, with back-off).
//
// Thread: everything, including destruction of the last reference, on the one io_context
// thread whose executor it was created with (the broker's io thread). Not thread-safe.
//
// Pipelining: up to `inflight_max` requests are on the wire at once, matched to their responses
// by correlation id, so responses may complete in any order. Callers beyond that wait, in FIFO
// order, for a slot (within their own deadline); at most `queued_max` may wait, further callers
// get `overloaded` at once.
//
// Bounds and failure rules:
//  - a response size < 4 or > `response_bytes_max` closes the connection before allocating
//    (protocol_error to every waiter);
//  - a response whose correlation id matches no request closes the connection (logged);
//  - a request that times out is abandoned: it keeps its slot until its late response arrives
//    (then dropped) because the peer still works on it; when all inflight_max requests on the
//    wire are abandoned the connection is closed as stuck;
//  - any read/write error closes the connection; every queued and in-flight caller gets the
//    error (disconnected, or stopped after stop()).
//
// Invariants: _slots_used == requests in _in_flight + slots handed to woken queue waiters that
// have not resumed yet; _slots_used <= inflight_max; after close() nothing is in _in_flight or
// _queue and nothing more is written.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gregor/base/result.h"
#include "gregor/base/types.h"
#include "gregor/protocol/api.h"
#include "gregor/rpc/resolver.h"
#include "gregor/rpc/rpc_error.h"
#include "gregor/rpc/wait_list.h"

namespace boost::asio::ssl {
class context;
template <typename Stream>
class stream;
}  // namespace boost::asio::ssl

namespace gregor::rpc {

struct endpoint {
  std::string host;
  uint16_t port = 0;
  bool operator==(const endpoint&) const = default;
};

// A client TLS context that can be replaced while connections use it (the broker's own key store
// rotated through AlterConfigs or on disk). Thread-safe; a connection takes current() when it
// connects, and OpenSSL keeps a context alive for the connections made with it.
class tls_client_source {
 public:
  explicit tls_client_source(std::shared_ptr<boost::asio::ssl::context> ctx) : _ctx(std::move(ctx)) {}
  std::shared_ptr<boost::asio::ssl::context> current() const {
    std::lock_guard lock(_mu);
    return _ctx;
  }
  void replace(std::shared_ptr<boost::asio::ssl::context> ctx) {
    std::lock_guard lock(_mu);
    _ctx = std::move(ctx);
  }

 private:
  mutable std::mutex _mu;
  std::shared_ptr<boost::asio::ssl::context> _ctx;
};

struct connection_options {
  std::string client_id = "gregor";
  int64_t connect_timeout_ms = 10000;      // resolve + TCP connect + ApiVersions
  size_t inflight_max = 16;                // requests on the wire at once (abandoned ones included)
  size_t queued_max = 1024;                // callers waiting for an in-flight slot
  int32_t response_bytes_max = 100 << 20;  // larger response sizes close the connection
  size_t write_batch_max = 64;             // frames gathered into one write
  // Software name/version sent in ApiVersions v3+ (brokers show them in their request log).
  std::string software_name = "gregor";
  std::string software_version = "0.1.0";
  // Host name lookups (null = host_resolver::shared(): one thread per name being looked up, last
  // good addresses kept; see resolver.h).
  std::shared_ptr<host_resolver> resolver;
  // SASL authentication after ApiVersions (the peer's listener is SASL_PLAINTEXT/SASL_SSL):
  // mechanism PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with this user. A refusal fails open() with
  // connect_failed naming the mechanism and the peer's message.
  struct sasl_login {
    std::string mechanism;
    std::string username;
    std::string password;
  };
  std::optional<sasl_login> sasl;
  // TLS, when the peer's listener is SSL or SASL_SSL: the client context
  // (net::make_client_tls_context); null = plaintext. The handshake is part of the connect
  // (same timeout). tls_verify_host: the server certificate must name the endpoint's host (DNS
  // name or IP address; Kafka's ssl.endpoint.identification.algorithm=https).
  std::shared_ptr<boost::asio::ssl::context> tls;
  // When set, replaces `tls` with the source's current context at each connect: a certificate
  // rotation (tls_client_source::replace) reaches new connections; open ones keep theirs.
  std::shared_ptr<tls_client_source> tls_source;
  bool tls_verify_host = true;
};

struct call_options {
  int64_t timeout_ms = 30000;  // from the call to the decoded response, queueing included
  int16_t max_version = -1;    // cap on the negotiated version; -1 = none
  int16_t version = -1;        // force this version (must be supported by both); -1 = negotiate
};

// A response with the frame it was decoded from: fields decoded as views (Fetch "records") point
// into `frame`, which moves with it (a vector's move keeps its buffer).
template <class Resp>
struct reply {
  int16_t version = 0;
  Resp body;
  std::vector<uint8_t> frame;  // response header + body, without the size prefix
};

// A frame received for a request, not decoded yet.
struct raw_reply {
  std::vector<uint8_t> frame;
  size_t body_offset = 0;  // where the message starts (after the response header)
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  enum class state : uint8_t { idle, connecting, ready, closed };

  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor, node_id node,
                                            endpoint ep, connection_options opts);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Connects (within connect_timeout_ms) and negotiates versions with ApiVersions: our highest
  // version first; on UNSUPPORTED_VERSION (answered with a v0 body and the peer's list) once
  // more at the highest version the peer lists for ApiVersions, else v0. Call once. On failure
  // the connection is closed and the error (connect_failed, unsupported_version, decode_error,
  // stopped) names the node and address.
  boost::asio::awaitable<result<void, rpc_error>> open();

  // Sends `req` at the highest version both sides support (capped by opts.max_version, or
  // exactly opts.version) and decodes the response. `req` must stay alive until the call
  // completes (as it does under co_await). Use call_reply() when the response holds views.
  template <class Req, class Resp>
  boost::asio::awaitable<result<Resp, rpc_error>> call(const Req& req, call_options opts = {}) {
    auto r = co_await call_reply<Req, Resp>(req, opts);
    if (!r) co_return failure{r.error()};
    co_return std::move(r.value().body);
  }

  template <class Req, class Resp>
  boost::asio::awaitable<result<reply<Resp>, rpc_error>> call_reply(const Req& req,
                                                                    call_options opts = {}) {
    static_assert(Req::api_key == Resp::api_key);
    const steady_time deadline = deadline_after(opts.timeout_ms);
    auto version = pick_version(Req::api_key, Req::min_version, Req::max_version, opts);
    if (!version) co_return failure{version.error()};
    const int32_t correlation_id = next_correlation_id();
    auto raw =
        co_await send(protocol::encode_request(req, *version, correlation_id, _opts.client_id),
                      correlation_id, Req::api_key, *version, deadline);
    if (!raw) co_return failure{raw.error()};
    reply<Resp> out;
    out.version = *version;
    out.frame = std::move(raw.value().frame);
    protocol::reader r(std::span<const uint8_t>(out.frame).subspan(raw.value().body_offset));
    out.body.decode(r, *version);
    if (!r.ok()) co_return failure{decode_failure(Req::api_key, *version, r.error())};
    co_return out;
  }

  // Closes the socket; every queued and in-flight caller gets `why`. Idempotent (the first
  // reason wins). Logged once.
  void close(rpc_error why);
  // close(stopped) and waits until the read and write coroutines have finished.
  boost::asio::awaitable<void> stop();

  state current_state() const { return _state; }
  bool is_ready() const { return _state == state::ready; }
  bool is_closed() const { return _state == state::closed; }
  // Closed, and its read and write coroutines have returned.
  bool finished() const { return _state == state::closed && _loops_running == 0; }
  // The error it closed with (meaningful once closed).
  const rpc_error& close_error() const { return _close_error; }
  steady_time closed_at() const { return _closed_at; }
  node_id node() const { return _node; }
  const endpoint& address() const { return _endpoint; }
  // The peer's [min, max] for an API key, from ApiVersions.
  std::optional<std::pair<int16_t, int16_t>> peer_versions(int16_t api_key) const;
  // Version of ApiVersions the peer answered (after a possible retry).
  int16_t api_versions_version() const { return _api_versions_version; }
  size_t in_flight() const { return _in_flight.size(); }
  size_t queued() const { return _slot_waiters.size(); }

  // "node 2 (10.0.0.7:9092): <what>".
  rpc_error make_error(rpc_error_kind kind, std::string_view what) const;
  boost::asio::awaitable<result<void, rpc_error>> authenticate(steady_time deadline);

 private:
  struct pending {
    int16_t api_key = 0;
    int16_t version = 0;
    bool abandoned = false;
    std::optional<result<raw_reply, rpc_error>> outcome;
    wait_list done;
  };

  connection(boost::asio::any_io_executor executor, node_id node, endpoint ep,
             connection_options opts);

  static steady_time deadline_after(int64_t timeout_ms);
  int32_t next_correlation_id();
  result<int16_t, rpc_error> pick_version(int16_t api_key, int16_t our_min, int16_t our_max,
                                          const call_options& opts) const;
  rpc_error decode_failure(int16_t api_key, int16_t version, const std::string& why) const;

  // Takes an in-flight slot (waiting if needed), writes `frame`, waits for the response.
  boost::asio::awaitable<result<raw_reply, rpc_error>> send(std::vector<uint8_t> frame,
                                                            int32_t correlation_id, int16_t api_key,
                                                            int16_t version, steady_time deadline);
  boost::asio::awaitable<result<void, rpc_error>> acquire_slot(steady_time deadline);
  void release_slot();
  boost::asio::awaitable<result<void, rpc_error>> connect_socket(steady_time deadline);
  // After the TCP connect, with opts.tls: SNI, host name check, handshake.
  boost::asio::awaitable<result<void, rpc_error>> tls_handshake();
  boost::asio::awaitable<result<void, rpc_error>> negotiate(steady_time deadline);
  boost::asio::awaitable<void> read_loop();
  boost::asio::awaitable<void> write_loop();
  void start_loops();

  struct slot_waiter {
    bool granted = false;
    std::optional<rpc_error> failed;
    wait_list wake;
  };

  boost::asio::any_io_executor _executor;
  node_id _node;
  endpoint _endpoint;
  connection_options _opts;
  boost::asio::ip::tcp::socket _socket;
  // TLS connections: the stream over _socket (null on plaintext).
  std::shared_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> _tls;
  state _state = state::idle;
  rpc_error _close_error;
  steady_time _closed_at{};
  std::string _name;  // "node 2 (10.0.0.7:9092)"

  int32_t _correlation_id = 0;
  std::map<int16_t, std::pair<int16_t, int16_t>> _peer_versions;
  int16_t _api_versions_version = -1;

  std::unordered_map<int32_t, std::shared_ptr<pending>> _in_flight;
  size_t _slots_used = 0;
  std::deque<std::shared_ptr<slot_waiter>> _slot_waiters;
  std::deque<std::vector<uint8_t>> _write_queue;  // bounded by inflight_max
  wait_list _write_signal;
  size_t _loops_running = 0;
  wait_list _loops_done;
};

}  // namespace gregor::rpc
