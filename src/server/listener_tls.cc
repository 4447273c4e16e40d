#include "listener_tls.h"

#include <algorithm>
#include <cctype>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/ranges.h>

#include "gregor/base/log.h"

namespace gregor::server {

namespace {

std::string trimmed(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at <= s.size()) {
    size_t comma = s.find(',', at);
    if (comma == std::string::npos) comma = s.size();
    auto item = trimmed(s.substr(at, comma - at));
    if (!item.empty()) out.push_back(std::move(item));
    at = comma + 1;
  }
  return out;
}

}  // namespace

net::tls_settings listener_tls_settings(const config::broker_config& cfg, std::string_view listener_name) {
  auto value = [&](std::string_view key) { return config::listener_value(cfg, listener_name, key); };
  // Single-valued text keys (PEM blocks keep their inner newlines; only the ends are trimmed).
  auto text = [&](std::string_view key) { return trimmed(value(key).value_or("")); };
  net::tls_settings s;
  s.listener = std::string(listener_name);
  s.keystore_type = text("ssl.keystore.type");  // "" (unset): detected from the file
  s.keystore_location = text("ssl.keystore.location");
  s.keystore_password = value("ssl.keystore.password").value_or("");
  s.key_password = value("ssl.key.password").value_or("");
  s.keystore_certificate_chain = text("ssl.keystore.certificate.chain");
  s.keystore_key = text("ssl.keystore.key");
  s.truststore_type = text("ssl.truststore.type");
  s.truststore_location = text("ssl.truststore.location");
  s.truststore_password = value("ssl.truststore.password").value_or("");
  s.truststore_certificates = text("ssl.truststore.certificates");
  if (auto v = value("ssl.client.auth")) s.client_auth = trimmed(*v);
  if (auto v = value("ssl.enabled.protocols")) s.enabled_protocols = split_commas(*v);
  if (auto v = value("ssl.cipher.suites")) s.cipher_suites = split_commas(*v);
  return s;
}

std::string check_listener_tls_changes(const config::broker_config& current, const config::broker_config& next) {
  for (const auto& l : next.listeners) {
    const std::string proto = config::security_protocol_of(next, l.name);
    if (proto != "SSL" && proto != "SASL_SSL") continue;
    const auto before = listener_tls_settings(current, l.name);
    const auto after = listener_tls_settings(next, l.name);
    if (before == after) continue;
    auto flag = [&](std::string_view key) {
      return trimmed(config::listener_value(next, l.name, key).value_or("false")) == "true";
    };
    auto r = net::check_tls_update(before, after, flag("ssl.allow.dn.changes"), flag("ssl.allow.san.changes"),
                                   l.name == current.inter_broker_listener());
    if (!r) return fmt::format("listener {}: {}", l.name, r.error());
  }
  return "";
}

result<void, std::string> use_outgoing_tls(rpc::connection_options& opts, const config::broker_config& cfg,
                                           std::string_view listener_name) {
  const std::string proto = config::security_protocol_of(cfg, listener_name);
  if (proto != "SSL" && proto != "SASL_SSL") return ok;
  auto ctx = net::make_client_tls_context(listener_tls_settings(cfg, listener_name));
  if (!ctx) return failure{ctx.error()};
  opts.tls = std::move(*ctx);
  const auto algorithm = config::listener_value(cfg, listener_name, "ssl.endpoint.identification.algorithm");
  opts.tls_verify_host = !algorithm || !trimmed(*algorithm).empty();
  return ok;
}


result<void, std::string> outgoing_tls::use(rpc::connection_options& opts, const config::broker_config& cfg,
                                            std::string_view listener_name) {
  if (auto r = use_outgoing_tls(opts, cfg, listener_name); !r || !opts.tls) return r;
  auto it = _entries.find(listener_name);
  if (it == _entries.end()) {
    entry e;
    e.settings = listener_tls_settings(cfg, listener_name);
    e.file_states = net::tls_file_states(e.settings.watched_files());
    e.source = std::make_shared<rpc::tls_client_source>(opts.tls);
    it = _entries.emplace(std::string(listener_name), std::move(e)).first;
  }
  opts.tls_source = it->second.source;
  return ok;
}

void outgoing_tls::use_or_log(rpc::connection_options& opts, const config::broker_config& cfg,
                              std::string_view listener_name) {
  if (auto r = use(opts, cfg, listener_name); !r)
    log::get("server").error("outgoing TLS to listener {}: {}", listener_name, r.error());
}

void outgoing_tls::rebuild(const std::string& listener, entry& e, net::tls_settings settings, const char* why) {
  e.settings = std::move(settings);
  e.file_states = net::tls_file_states(e.settings.watched_files());
  auto ctx = net::make_client_tls_context(e.settings);
  if (!ctx) {
    log::get("server").error("outgoing TLS to listener {}: the {} key store or trust store cannot be loaded, keeping "
                             "the current certificates: {}",
                             listener, why, ctx.error());
    return;
  }
  e.source->replace(std::move(*ctx));
  ++e.reloads;
  log::get("server").info("outgoing TLS to listener {}: reloaded the {} key store and trust store ({}); new "
                          "connections use them",
                          listener, why, fmt::join(e.settings.watched_files(), ", "));
}

void outgoing_tls::apply(const config::broker_config& cfg) {
  for (auto& [listener, e] : _entries) {
    auto settings = listener_tls_settings(cfg, listener);
    if (settings == e.settings) continue;
    rebuild(listener, e, std::move(settings), "changed");
  }
}

void outgoing_tls::check_files() {
  for (auto& [listener, e] : _entries) {
    const auto files = e.settings.watched_files();
    if (files.empty() || net::tls_file_states(files) == e.file_states) continue;
    rebuild(listener, e, e.settings, "rewritten");
  }
}

void outgoing_tls::start(int64_t check_ms) {
  if (_timer) return;
  _timer = std::make_shared<boost::asio::steady_timer>(_io);
  _polling = std::make_shared<bool>(true);
  boost::asio::co_spawn(
      _io,
      [this, timer = _timer, polling = _polling, check_ms]() -> boost::asio::awaitable<void> {
        for (;;) {
          timer->expires_after(std::chrono::milliseconds(check_ms));
          auto [ec] = co_await timer->async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
          if (ec || !*polling) co_return;  // stopped: `this` may be gone
          check_files();
        }
      },
      boost::asio::detached);
}

void outgoing_tls::stop() {
  if (!_timer) return;
  *_polling = false;
  _timer->cancel();
  _timer.reset();
  _polling.reset();
}

uint64_t outgoing_tls::reloads(std::string_view listener_name) const {
  auto it = _entries.find(listener_name);
  return it == _entries.end() ? 0 : it->second.reloads;
}

}  // namespace gregor::server
