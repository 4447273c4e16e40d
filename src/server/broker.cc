#include "gregor/server/broker.h"

#include <map>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <fmt/ranges.h>

#include "core.h"
#include "dispatcher.h"
#include "sasl_login.h"
#include "tls_principal.h"
#include "gregor/security/acl.h"
#include "log_maintenance.h"
#include "loop_lag.h"
#include "http_admin.h"
#include "listener_tls.h"
#include "oauthbearer_validation.h"
#include "gregor/base/log.h"
#include "gregor/net/tcp_server.h"

namespace gregor::server {
namespace asio = boost::asio;

struct broker::impl {
  explicit impl(config::broker_config cfg)
      : c(io, std::move(cfg), system_clock::instance()), disp(c) {}

  result<net::server_options, std::string> net_options() const {
    const auto& cfg = c.config();
    net::server_options o;
    for (const auto& l : cfg.listeners) {
      const std::string protocol = config::security_protocol_of(cfg, l.name);
      net::listener_spec spec{l.name, l.host, uint16_t(l.port), protocol,
                              protocol == "SASL_PLAINTEXT" || protocol == "SASL_SSL"};
      if (protocol == "SSL" || protocol == "SASL_SSL") {
        auto settings = listener_tls_settings(cfg, l.name);
        auto ctx = net::make_server_tls_context(settings);
        if (!ctx) return failure{ctx.error()};
        spec.tls = std::move(*ctx);
        spec.tls_watched_files = settings.watched_files();
        spec.tls_rebuild = [settings] { return net::make_server_tls_context(settings); };
      }
      o.listeners.push_back(std::move(spec));
    }
    o.pre_auth_request_bytes_max = cfg.sasl_server_max_receive_size;
    // The broker's own TLS connections (inter-broker and controller listeners): refuse to start
    // on a store the pools could not load (they are built later, without a way to fail).
    std::vector<std::string> outgoing{cfg.inter_broker_listener()};
    if (!cfg.controller_listener_names.empty()) outgoing.push_back(cfg.controller_listener_names.front());
    for (const auto& l : outgoing) {
      rpc::connection_options probe;
      if (auto r = use_outgoing_tls(probe, cfg, l); !r) return failure{r.error()};
    }
    o.request_bytes_max = cfg.socket_request_max_bytes;
    // Network threads beside the io thread: num.network.threads, at most one per core left
    // beside it (Kafka's default of 3 on a 2-core machine gives 1); 0 keeps connections on the
    // io thread.
    {
      const size_t cores = std::max<size_t>(std::thread::hardware_concurrency(), 1);
      o.network_threads = std::min<size_t>(size_t(std::max(cfg.num_network_threads, 0)), cores - 1);
    }
    o.idle_timeout_ms = cfg.connections_max_idle_ms;
    o.partial_frame_timeout_ms = cfg.socket_partial_request_timeout_ms;
    o.connections_max = size_t(std::max(cfg.max_connections, 1));
    // Connection limits (Kafka's ConnectionQuotas). Overrides name addresses or host names; a
    // host name is resolved once, at start (as Kafka does when it reads the config).
    o.connections_per_ip_max = size_t(cfg.max_connections_per_ip);
    std::vector<std::string> items;
    for (std::string_view rest = cfg.max_connections_per_ip_overrides; !rest.empty();) {
      const auto comma = rest.find(',');
      std::string item(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      std::erase_if(item, [](char ch) { return ch == ' ' || ch == '\t'; });
      if (!item.empty()) items.push_back(std::move(item));
    }
    for (const auto& item : items) {
      const auto colon = item.rfind(':');
      if (colon == std::string::npos) continue;  // refused by the config validator
      const std::string host = item.substr(0, colon);
      const size_t limit = size_t(std::stoll(item.substr(colon + 1)));
      boost::system::error_code ec;
      const auto addr = asio::ip::make_address(host, ec);
      if (!ec) {
        o.connections_per_ip_overrides[addr.to_string()] = limit;
        continue;
      }
      asio::io_context resolving;
      asio::ip::tcp::resolver resolver(resolving);
      const auto found = resolver.resolve(host, "", ec);
      if (ec || found.empty())
        return failure{fmt::format("config 'max.connections.per.ip.overrides': cannot resolve '{}'", host)};
      for (const auto& e : found) o.connections_per_ip_overrides[e.endpoint().address().to_string()] = limit;
    }
    if (cfg.max_connections_per_ip == 0 && o.connections_per_ip_overrides.empty())
      return failure{std::string(
          "config 'max.connections.per.ip' can be set to zero only if max.connections.per.ip.overrides is set")};
    if (cfg.max_connection_creation_rate < std::numeric_limits<int32_t>::max())
      o.connection_creation_rate_max = double(cfg.max_connection_creation_rate);
    o.rate_exempt_listeners.push_back(cfg.inter_broker_listener());
    for (const auto& l : cfg.controller_listener_names) o.rate_exempt_listeners.push_back(l);
    o.quota_window_ms = int64_t(cfg.quota_window_size_seconds) * 1000;
    o.quota_window_num = cfg.quota_window_num;
    if (cfg.queued_max_request_bytes > 0) o.request_memory_bytes_max = size_t(cfg.queued_max_request_bytes);
    o.socket_send_buffer_bytes = cfg.socket_send_buffer_bytes;
    o.socket_receive_buffer_bytes = cfg.socket_receive_buffer_bytes;
    return o;
  }

  // A listener's key store or trust store changed through AlterConfigs (validated by the handler
  // before it was stored): new connections use the new context; the file-change reload watches
  // the new files. A store that no longer loads (a file gone since) is logged and the current
  // context kept, as the reload does.
  void apply_listener_tls(const config::broker_config& cfg) {
    c.outgoing_tls_contexts().apply(cfg);
    for (const auto& l : cfg.listeners) {
      const std::string protocol = config::security_protocol_of(cfg, l.name);
      if (protocol != "SSL" && protocol != "SASL_SSL") continue;
      auto settings = listener_tls_settings(cfg, l.name);
      auto& applied = tls_applied[l.name];
      if (settings == applied) continue;
      applied = settings;
      auto ctx = net::make_server_tls_context(settings);
      if (!ctx) {
        log::get("server").error("listener {}: the dynamic key store or trust store cannot be loaded, keeping the "
                                 "current certificates: {}",
                                 l.name, ctx.error());
        continue;
      }
      server->update_tls(l.name, std::move(*ctx), settings.watched_files(),
                         [settings] { return net::make_server_tls_context(settings); });
      log::get("server").info("listener {}: key store or trust store changed by a dynamic config ({}); new "
                              "connections use it",
                              l.name, fmt::join(settings.watched_files(), ", "));
    }
  }

  asio::io_context io{1};
  core c;
  dispatcher disp;
  std::unique_ptr<net::tcp_server> server;
  std::map<std::string, net::tls_settings> tls_applied;  // per TLS listener, what `server` serves
  bool stopping = false;
  std::unique_ptr<http_admin> admin;  // after server and core: destroyed first
  std::unique_ptr<log_maintenance> maintenance;  // flush timer, retention, checkpoints
  std::unique_ptr<loop_lag> lag;                 // gregor_io_loop_lag_seconds
};

broker::broker(config::broker_config cfg) : _impl(std::make_unique<impl>(std::move(cfg))) {}
broker::~broker() = default;

result<void, std::string> broker::start() {
  if (std::string why = check_sasl_configs(_impl->c.config()); !why.empty()) return failure{why};
  {
    auto keys = oauthbearer_keys::start(_impl->c.config());
    if (!keys) return failure{keys.error()};
    _impl->c.set_oauth_keys(std::shared_ptr<oauthbearer_keys>(std::move(*keys)));
  }
  if (std::string why = check_principal_mapping_rules(_impl->c.config()); !why.empty()) return failure{why};
  if (auto su = security::parse_super_users(_impl->c.config().super_users); !su)
    return failure{fmt::format("config 'super.users': {}", su.error())};
  // The admin listener first: /health answers 503 "starting" (from a helper thread) while the
  // logs open and recover, and turns 200 only once the Kafka listener is bound.
  auto opened = open_http_admin(_impl->io, _impl->c);
  if (!opened) return failure{opened.error()};
  _impl->admin = std::move(*opened);
  {
    startup_io_thread serve_health(_impl->io);
    if (auto r = _impl->c.open(); !r) return r;
  }
  _impl->maintenance = std::make_unique<log_maintenance>(_impl->c);
  _impl->maintenance->start();
  auto net_opts = _impl->net_options();
  if (!net_opts) return failure{net_opts.error()};
  _impl->server = std::make_unique<net::tcp_server>(_impl->io, std::move(*net_opts), _impl->disp);
  if (auto r = _impl->server->start(); !r) return r;
  for (const auto& l : _impl->c.config().listeners)
    _impl->tls_applied[l.name] = listener_tls_settings(_impl->c.config(), l.name);
  _impl->c.on_config_change([impl = _impl.get()](const config::broker_config& cfg) { impl->apply_listener_tls(cfg); });
  _impl->c.outgoing_tls_contexts().start();
  _impl->c.set_bound_ports(_impl->server->bound_ports());
  if (auto r = _impl->c.start_cluster(); !r) return r;
  for (size_t i = 0; i < _impl->c.config().listeners.size(); ++i) {
    const auto& l = _impl->c.config().listeners[i];
    log::get("server").info("listening on {}://{}:{}", l.name, l.host.empty() ? "0.0.0.0" : l.host,
                            _impl->server->bound_ports().at(i));
  }
  add_broker_collectors(*_impl->admin, _impl->c, *_impl->server);
  _impl->lag = std::make_unique<loop_lag>(_impl->io, metrics::registry::global());
  _impl->lag->start();
  _impl->admin->set_health(http_admin::health::serving);
  return ok;
}

void broker::run() { _impl->io.run(); }

void broker::request_stop() {
  asio::post(_impl->io, [this] {
    if (_impl->stopping) return;
    _impl->stopping = true;
    if (_impl->admin) _impl->admin->set_health(http_admin::health::stopping);
    asio::co_spawn(
        _impl->io,
        [this]() -> asio::awaitable<void> {
          // Cluster mode: leaderships move to other replicas while clients are still served here.
          co_await _impl->c.controlled_shutdown();
          log::get("server").info("stopping: no new connections, finishing in-flight requests");
          _impl->server->stop_accepting();
          _impl->c.waiters().notify_all();
          _impl->c.stop_groups();
          _impl->c.stop_transactions();
          co_await _impl->server->drain_and_close(10000);
          co_await _impl->c.shutdown_transactions();
          co_await _impl->c.stop_cluster();
          if (_impl->maintenance) _impl->maintenance->stop();
          _impl->c.outgoing_tls_contexts().stop();
          _impl->c.close();
          log::get("server").info("stopped cleanly");
          if (_impl->admin) _impl->admin->stop();
          if (_impl->lag) _impl->lag->stop();
          _impl->io.stop();
        },
        asio::detached);
  });
}

std::vector<uint16_t> broker::bound_ports() const { return _impl->server->bound_ports(); }

asio::io_context& broker::io() { return _impl->io; }

}  // namespace gregor::server
