#pragma once
// Glue between config and net for TLS: a listener's ssl.* configs (listener.name.<l>.ssl.* over
// ssl.*, config::listener_value) as net::tls_settings. Called by broker.cc when it builds the
// server's listeners.
#include <cstdint>
#include <map>
#include <memory>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gregor/config/broker_config.h"
#include "gregor/net/tls.h"
#include "gregor/rpc/connection.h"

namespace gregor::server {

net::tls_settings listener_tls_settings(const config::broker_config& cfg, std::string_view listener_name);

// Kafka's check of a change to this broker's listener stores (AlterConfigs of
// listener.name.<l>.ssl.keystore.* / .truststore.*, DynamicBrokerConfig → SslFactory
// validateReconfiguration): every SSL/SASL_SSL listener whose settings differ between `current`
// and `next` must pass net::check_tls_update (the stores load; same subject and SANs unless
// ssl.allow.dn.changes / ssl.allow.san.changes; the inter-broker listener's old and new stores
// trust each other). "" if fine, else the reason, naming the listener.
std::string check_listener_tls_changes(const config::broker_config& current, const config::broker_config& next);

// The broker's own connections to `listener` (inter-broker: replica fetchers, transaction markers;
// controller: raft and broker-to-controller): when the listener is SSL or SASL_SSL, sets opts.tls
// to a client context from the listener's ssl.* configs and opts.tls_verify_host from
// ssl.endpoint.identification.algorithm (https, the default, checks the host name; empty does
// not). Plaintext listeners leave opts alone. Errors name the key and file. SASL on SASL_SSL is
// not done here.
result<void, std::string> use_outgoing_tls(rpc::connection_options& opts, const config::broker_config& cfg,
                                           std::string_view listener_name);

// The client TLS contexts of this node's own connections, one rpc::tls_client_source per listener
// connected to, shared by every pool that connects there (use / use_or_log instead of
// use_outgoing_tls). A listener's context is rebuilt when its settings change (apply: the key
// store or trust store changed through AlterConfigs) or its store files change on disk
// (check_files, polled every 5 s by start()), as Kafka's SslFactory does for the broker's own
// connections: new connections present and trust the new certificates, open ones keep theirs.
// A store that no longer loads is logged and the previous context kept. io thread only.
class outgoing_tls {
 public:
  explicit outgoing_tls(boost::asio::io_context& io) : _io(io) {}
  ~outgoing_tls() { stop(); }
  outgoing_tls(const outgoing_tls&) = delete;
  outgoing_tls& operator=(const outgoing_tls&) = delete;

  result<void, std::string> use(rpc::connection_options& opts, const config::broker_config& cfg,
                                std::string_view listener_name);
  // For a pool built in a constructor: a failure (already refused at start-up by broker.cc) is
  // logged and the pool stays plaintext.
  void use_or_log(rpc::connection_options& opts, const config::broker_config& cfg, std::string_view listener_name);
  // Rebuilds every listener's context whose settings in `cfg` differ from the ones in use.
  void apply(const config::broker_config& cfg);
  // Rebuilds every listener's context whose store files changed since it was built.
  void check_files();
  // The 5-second file poll (start once the broker runs; stop before the io_context goes).
  void start(int64_t check_ms = 5000);
  void stop();
  // How many times a listener's context was replaced (tests).
  uint64_t reloads(std::string_view listener_name) const;

 private:
  struct entry {
    net::tls_settings settings;
    std::vector<std::string> file_states;
    std::shared_ptr<rpc::tls_client_source> source;
    uint64_t reloads = 0;
  };
  void rebuild(const std::string& listener, entry& e, net::tls_settings settings, const char* why);

  boost::asio::io_context& _io;
  std::map<std::string, entry, std::less<>> _entries;
  std::shared_ptr<boost::asio::steady_timer> _timer;
  std::shared_ptr<bool> _polling;  // the poll loop's flag (it may outlive this object)
};

}  // namespace gregor::server
