#pragma once
// dispatcher: the net::frame_handler of the Kafka listeners. Reads the request header, finds the
// route for the API key, refuses unknown keys and unsupported versions (closing the connection,
// except ApiVersions, which answers UNSUPPORTED_VERSION with our list so the client can retry
// lower), and runs the route. Keeps each connection's client_session (session.h): on a SASL
// listener nothing but ApiVersions, SaslHandshake and SaslAuthenticate is served before the
// connection authenticates, and nothing at all once its KIP-368 session expired. On an SSL
// listener the principal comes from the client certificate (tls_principal.h). One per broker;
// called on the io thread.
#include <memory>
#include <unordered_map>

#include "core.h"
#include "gregor/net/tcp_server.h"
#include "authorizer.h"
#include "request_gate.h"
#include "session.h"
#include "tls_principal.h"

namespace gregor::server {

class dispatcher final : public net::frame_handler {
 public:
  explicit dispatcher(core& c) : _core(c), _authz(c), _tls(c.config()) {}
  boost::asio::awaitable<net::frame_outcome> handle(const net::connection_info& conn,
                                                    std::vector<uint8_t> frame) override;
  // Called once the connection is closed and its last handler call finished (net/connection.h).
  void on_close(const net::connection_info& conn) override {
    _sessions.erase(conn.id);
    if (auto it = _gates.find(conn.id); it != _gates.end()) {
      it->second->close();
      _gates.erase(it);
    }
  }
  // KIP-612: the image's connection_creation_rate of /ips/<ip>, else of the default ip entity.
  std::optional<double> ip_connection_rate(const std::string& ip) override;

 private:
  // The connection's session, created with its first frame.
  std::shared_ptr<client_session> session_for(const net::connection_info& conn);

  core& _core;
  authorizer _authz;
  tls_principals _tls;
  std::unordered_map<uint64_t, std::shared_ptr<client_session>> _sessions;
  // Each connection's request order, serial once throttled (request_gate.h), for the connection's
  // life. Requests share their gate: a request frame destroyed at shutdown, after the dispatcher,
  // still finds it.
  std::unordered_map<uint64_t, std::shared_ptr<request_gate>> _gates;
};

}  // namespace gregor::server
