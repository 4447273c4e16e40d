#include "listener_tls.h"

#include <algorithm>
#include <cctype>

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

void use_outgoing_tls_or_log(rpc::connection_options& opts, const config::broker_config& cfg,
                             std::string_view listener_name) {
  if (auto r = use_outgoing_tls(opts, cfg, listener_name); !r)
    log::get("server").error("outgoing TLS to listener {}: {}", listener_name, r.error());
}

}  // namespace gregor::server
