#pragma once
// The network layer: TCP acceptors, connections and Kafka framing (4-byte big-endian size + frame).
// It knows nothing of Kafka messages beyond framing: complete frames go to a frame_handler, whose
// responses are written back strictly in request order.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

namespace boost::asio::ssl {
class context;
}

#include "gregor/base/byte_buffer.h"
#include "gregor/base/result.h"

namespace gregor::net {

struct connection_info {
  uint64_t id;
  std::string peer;           // "ip:port" of the client
  std::string listener_name;  // listener_spec::name the connection arrived on
  // listener_spec::security_protocol of that listener (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).
  std::string security_protocol = "PLAINTEXT";
  // TLS listeners: the client certificate's subject distinguished name in RFC 2253 form, as
  // Kafka's X500Principal.getName() ("CN=alice,OU=eng,O=Example,C=US"); empty without one.
  std::string tls_peer_subject;
};

struct frame_outcome {
  enum class kind { respond, no_response, close };
  // Bytes sent as part of the response without being copied into `response`: the frame is
  // `response` with each view inserted at its position (positions ascending, into `response`).
  struct splice {
    size_t position = 0;
    const uint8_t* data = nullptr;
    size_t size = 0;
  };
  kind what = kind::respond;
  // Header + body, WITHOUT the 4-byte size prefix (net adds it). With kind::close, a non-empty
  // response is written before the connection closes (a failed authentication's answer).
  std::vector<uint8_t> response;
  std::string close_reason;       // logged once when what == close
  std::vector<splice> splices;
  // Memory the splices view; released once the response is written.
  std::vector<byte_buffer> owned;
  // Released with `owned`: the handler's share of a broker-wide memory account (Fetch records).
  std::shared_ptr<const void> lease;
  // The connection completed authentication with this request (SaslAuthenticate): frames larger
  // than server_options::pre_auth_request_bytes_max are accepted from now on.
  bool authenticated = false;
  // KIP-219 (client quotas): the connection reads nothing more for this long once the response is
  // ready (the client was told the same in the response's throttle_time_ms). 0 = no mute.
  int64_t throttle_ms = 0;

  // Size of the whole response frame (without the size prefix).
  size_t frame_bytes() const {
    size_t n = response.size();
    for (const auto& s : splices) n += s.size;
    return n;
  }
};

// Implemented by the dispatcher. Called on the server's io_context thread only.
class frame_handler {
 public:
  virtual ~frame_handler() = default;
  // Called for every complete frame (the 4-byte size already stripped; frame = request header +
  // body). The frame buffer is moved in and owned by the handler's coroutine frame, so views into
  // it stay valid until the coroutine returns. Several calls for one connection may be in progress
  // at once; their responses are written in request order regardless of completion order. An
  // exception escaping handle() closes the connection (logged).
  virtual boost::asio::awaitable<frame_outcome> handle(const connection_info& conn,
                                                       std::vector<uint8_t> frame) = 0;
  // Called once when a connection is dropped, for any reason. Handlers still running for that
  // connection may complete afterwards; their responses are discarded.
  virtual void on_close(const connection_info& conn) {}
  // KIP-612: the connection_creation_rate quota (connections per second) of a client address,
  // nullopt = none. A connection over it is held for the throttle time, then closed unserved.
  // Called on the io thread for every accepted connection.
  virtual std::optional<double> ip_connection_rate(const std::string& ip) { return std::nullopt; }
};

struct listener_spec {
  std::string name;
  std::string host;
  uint16_t port;  // 0 = ephemeral
  std::string security_protocol = "PLAINTEXT";  // copied into connection_info
  // SASL listeners: until a frame_outcome says `authenticated`, frames are capped at
  // server_options::pre_auth_request_bytes_max (Kafka's sasl.server.max.receive.size).
  bool authenticate_first = false;
  // SSL and SASL_SSL listeners: the TLS context (make_server_tls_context, gregor/net/tls.h);
  // null = plaintext. Each accepted connection handshakes with the context current at accept.
  std::shared_ptr<boost::asio::ssl::context> tls;
  // Reload: when set, the server polls these files' modification times and, on a change, builds
  // a new context with `tls_rebuild` for new connections (a failure is logged and the old one
  // kept). Filled by the caller, typically from tls_settings::watched_files().
  std::vector<std::string> tls_watched_files;
  std::function<result<std::shared_ptr<boost::asio::ssl::context>, std::string>()> tls_rebuild;
};

struct server_options {
  std::vector<listener_spec> listeners;
  int32_t request_bytes_max = 104857600;         // socket.request.max.bytes
  int64_t idle_timeout_ms = 600000;              // connections.max.idle.ms
  int64_t partial_frame_timeout_ms = 30000;      // a frame that started must complete within this
  size_t connections_max = 10000;                // max.connections; over it: accept then close
  // Connection limits (Kafka's ConnectionQuotas). Per client address (max.connections.per.ip, and
  // per-address overrides from max.connections.per.ip.overrides): over it, accepted then closed
  // with the reason logged. max.connection.creation.rate (new connections per second, measured
  // like a client quota over quota_window_num windows of quota_window_ms): over it the acceptor
  // waits the throttle time before accepting more, except on `rate_exempt_listeners` (the
  // inter-broker and controller listeners, as in Kafka).
  size_t connections_per_ip_max = SIZE_MAX;
  std::map<std::string, size_t> connections_per_ip_overrides;  // address literal -> limit
  double connection_creation_rate_max = 0;                     // 0 = unlimited
  std::vector<std::string> rate_exempt_listeners;
  int64_t quota_window_ms = 1000;
  int quota_window_num = 11;
  size_t inflight_per_connection_max = 32;       // requests read but not yet answered, per conn
  size_t request_memory_bytes_max = 256u << 20;  // all frames in flight, all connections (pool)
  int32_t socket_send_buffer_bytes = 102400;     // socket.send.buffer.bytes, -1 = OS default
  int32_t socket_receive_buffer_bytes = 102400;  // socket.receive.buffer.bytes, -1 = OS default
  // A connection stops reading while its answered-but-unwritten responses exceed this (a client
  // that never reads its responses). One response larger than this is still written.
  size_t unwritten_response_bytes_max = 16u << 20;
  // Largest frame an unauthenticated connection of an authenticate_first listener may send
  // (sasl.server.max.receive.size; CVE-2022-34917 is a broker that allocates whatever the
  // stranger's size prefix says).
  int32_t pre_auth_request_bytes_max = 524288;
  // How often TLS listeners' key store and trust store files are checked for changes.
  int64_t tls_reload_check_ms = 5000;
  // Threads that run the connections' socket reads and writes, framing and TLS, beside the
  // io_context thread that accepts and runs every handler call. 0: connections live on the
  // io_context thread too.
  size_t network_threads = 0;
};

namespace detail {
class server_core;
}

// Owns the acceptors and every connection. The acceptors and every frame_handler call run on the
// caller's io_context thread (the io thread), which the caller runs; with
// server_options::network_threads > 0 the connections' socket I/O, framing and TLS run on that
// many network threads of the server's own (started by start(), joined by the destructor). start() may be called before that thread runs the io_context; stop_accepting(),
// drain_and_close() and close_all() must be called on the io_context thread. bound_ports(),
// connection_count() and counters() may be called from any thread.
// Safe to destroy after close_all() once the io_context has stopped (the destructor calls
// close_all() itself).
class tcp_server {
 public:
  tcp_server(boost::asio::io_context& io, server_options opts, frame_handler& handler);
  ~tcp_server();
  tcp_server(const tcp_server&) = delete;
  tcp_server& operator=(const tcp_server&) = delete;

  // Binds and listens on every listener; error text names the address on failure.
  result<void, std::string> start();
  std::vector<uint16_t> bound_ports() const;  // in listener order (for port 0)
  void stop_accepting();                      // graceful stop, step 1
  // Waits (bounded by deadline_ms) until every connection has no request in flight and its
  // responses are written, then closes all connections. Connections read no new frames meanwhile.
  boost::asio::awaitable<void> drain_and_close(int64_t deadline_ms);
  void close_all();  // immediate
  size_t connection_count() const;
  // Replaces TLS listener `listener`'s context (new connections handshake with `tls`; open ones
  // keep theirs) and what its file-change reload watches and rebuilds with: the dynamic key store
  // of an AlterConfigs. On the io_context thread. False when no TLS listener has that name.
  bool update_tls(const std::string& listener, std::shared_ptr<boost::asio::ssl::context> tls,
                  std::vector<std::string> watched_files,
                  std::function<result<std::shared_ptr<boost::asio::ssl::context>, std::string>()> rebuild);
  // Counters for metrics: frames read, bytes in/out, connections accepted/closed, frames refused.
  struct stats {
    uint64_t frames_in = 0, bytes_in = 0, bytes_out = 0, accepted = 0, closed = 0,
             rejected_frames = 0;
  };
  stats counters() const;

 private:
  std::shared_ptr<detail::server_core> _core;
};

}  // namespace gregor::net
