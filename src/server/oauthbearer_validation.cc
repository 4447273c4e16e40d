#include "oauthbearer_validation.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <tuple>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "gregor/base/log.h"
#include "gregor/security/jaas.h"
#include "jwks_endpoint.h"

namespace gregor::server {
namespace {

std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string trimmed(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// The name the listener's key is set under: listener-prefixed when that form is set.
std::string key_name(const config::broker_config& cfg, const std::string& listener, std::string_view key) {
  const std::string prefixed = fmt::format("listener.name.{}.{}", lower(listener), key);
  return cfg.is_set(prefixed) ? prefixed : std::string(key);
}

constexpr std::string_view jwks_url_key = "sasl.oauthbearer.jwks.endpoint.url";
constexpr const char* refresh_key = "sasl.oauthbearer.jwks.endpoint.refresh.ms";
constexpr const char* backoff_key = "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms";
constexpr const char* backoff_max_key = "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms";

bool is_http_url(std::string_view url) {
  const std::string u = lower(trimmed(url));
  return u.starts_with("http:") || u.starts_with("https:");
}

// The endpoint's timing keys with Kafka's defaults.
struct long_key {
  const char* name;
  const char* default_text;
};
constexpr long_key timing_keys[] = {{refresh_key, "3600000"}, {backoff_key, "100"}, {backoff_max_key, "10000"}};

// A timing setting of the listener (its prefixed key wins; Kafka's default when unset), >= 0;
// else an error naming the key.
result<int64_t, std::string> long_setting(const config::broker_config& cfg, const std::string& listener,
                                          const long_key& key) {
  auto v = config::listener_value(cfg, listener, key.name);
  const std::string text = v ? trimmed(*v) : key.default_text;
  errno = 0;
  char* end = nullptr;
  const long long n = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || n < 0)
    return failure{fmt::format("config '{}' = '{}': expected a whole number of milliseconds >= 0",
                               key_name(cfg, listener, key.name), text)};
  return int64_t(n);
}

// Whether `listener` is a SASL listener that enables OAUTHBEARER.
bool serves_oauthbearer(const config::broker_config& cfg, const std::string& listener) {
  const std::string proto = config::security_protocol_of(cfg, listener);
  if (proto != "SASL_PLAINTEXT" && proto != "SASL_SSL") return false;
  const auto mechanisms = config::listener_sasl_mechanisms(cfg, listener);
  return std::find(mechanisms.begin(), mechanisms.end(), "OAUTHBEARER") != mechanisms.end();
}

// The https trust of a JWKS endpoint from the OAUTHBEARER JAAS options (Kafka's JaasOptionsUtils:
// ssl.truststore.*; ssl.endpoint.identification.algorithm, https by default, checks the host name).
std::pair<net::tls_settings, bool> jwks_trust_of(const security::jaas_entry& entry) {
  net::tls_settings s;
  s.listener = "the OAUTHBEARER JWKS endpoint";
  auto opt = [&](const char* name) {
    auto it = entry.options.find(name);
    return it == entry.options.end() ? std::string() : it->second;
  };
  s.truststore_type = opt("ssl.truststore.type");
  s.truststore_location = opt("ssl.truststore.location");
  s.truststore_password = opt("ssl.truststore.password");
  s.truststore_certificates = opt("ssl.truststore.certificates");
  auto algorithm = entry.options.find("ssl.endpoint.identification.algorithm");
  const bool verify_host = algorithm == entry.options.end() || !trimmed(algorithm->second).empty();
  return {s, verify_host};
}

result<std::string, std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return failure{fmt::format("cannot read {}", path.string())};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return failure{fmt::format("cannot read {}", path.string())};
  return text.str();
}

result<security::jwk_set, std::string> load_jwks(const std::filesystem::path& path) {
  auto text = read_file(path);
  if (!text) return failure{text.error()};
  auto keys = security::jwk_set::parse(*text);
  if (!keys) return failure{fmt::format("{}: {}", path.string(), keys.error())};
  return std::move(keys).value();
}

}  // namespace

result<std::filesystem::path, std::string> jwks_file_of_url(std::string_view url, std::string_view key) {
  const std::string u = trimmed(url);
  const size_t colon = u.find(':');
  const std::string scheme = colon == std::string::npos ? "" : lower(u.substr(0, colon));
  if (scheme == "http" || scheme == "https")
    return failure{fmt::format("config '{}' = '{}': an {} URL, not a file: URL", key, u, scheme)};
  if (scheme != "file")
    return failure{fmt::format("config '{}' = '{}': expected a file: URL (file:///path/to/jwks.json) or an http(s) URL",
                               key, u)};
  std::string rest = u.substr(colon + 1);
  if (rest.starts_with("//")) {
    rest.erase(0, 2);
    // file://host/path: only the local host.
    const size_t slash = rest.find('/');
    const std::string host = slash == std::string::npos ? rest : rest.substr(0, slash);
    if (!host.empty() && host != "localhost")
      return failure{fmt::format("config '{}' = '{}': a file: URL names a file on this host", key, u)};
    rest = slash == std::string::npos ? "" : rest.substr(slash);
  }
  if (!rest.starts_with("/")) return failure{fmt::format("config '{}' = '{}': the file path must be absolute", key, u)};
  return std::filesystem::path(rest);
}

security::jwt_validation_options oauthbearer_options_of(const config::broker_config& cfg, const std::string& listener) {
  security::jwt_validation_options o;
  if (auto v = config::listener_value(cfg, listener, "sasl.oauthbearer.expected.audience")) {
    std::stringstream items(*v);
    for (std::string item; std::getline(items, item, ',');)
      if (auto t = trimmed(item); !t.empty()) o.expected_audience.push_back(t);
  }
  if (auto v = config::listener_value(cfg, listener, "sasl.oauthbearer.expected.issuer"); v && !trimmed(*v).empty())
    o.expected_issuer = trimmed(*v);
  if (auto v = config::listener_value(cfg, listener, "sasl.oauthbearer.sub.claim.name"); v && !trimmed(*v).empty())
    o.sub_claim_name = trimmed(*v);
  if (auto v = config::listener_value(cfg, listener, "sasl.oauthbearer.scope.claim.name"); v && !trimmed(*v).empty())
    o.scope_claim_name = trimmed(*v);
  if (auto v = config::listener_value(cfg, listener, "sasl.oauthbearer.clock.skew.seconds"))
    o.clock_skew_seconds = std::strtoll(trimmed(*v).c_str(), nullptr, 10);  // checked when the config loaded
  return o;
}

std::string check_oauthbearer_configs(const config::broker_config& cfg) {
  for (const auto& l : cfg.listeners) {
    if (!serves_oauthbearer(cfg, l.name)) continue;
    const std::string ln = lower(l.name);
    const std::string handler_key = fmt::format("listener.name.{}.oauthbearer.sasl.server.callback.handler.class", ln);
    auto handler = config::listener_value(cfg, l.name, "oauthbearer.sasl.server.callback.handler.class");
    if (!handler || trimmed(*handler) != oauthbearer_validator_class)
      return fmt::format("SASL listener '{}' enables OAUTHBEARER but '{}' is {}: Gregor validates tokens only with {} "
                         "(signatures checked against sasl.oauthbearer.jwks.endpoint.url); Kafka's default, the "
                         "unsecured validator that accepts unsigned tokens, is not supported",
                         l.name, handler_key, handler ? fmt::format("'{}'", trimmed(*handler)) : std::string("not set"),
                         oauthbearer_validator_class);
    const std::string jaas_key = fmt::format("listener.name.{}.oauthbearer.sasl.jaas.config", ln);
    auto jaas = config::listener_value(cfg, l.name, "oauthbearer.sasl.jaas.config");
    if (!jaas)
      return fmt::format("config '{}' is not set (OAUTHBEARER is enabled on listener '{}'; {} required ;)", jaas_key,
                         l.name, oauthbearer_login_module);
    auto entry = security::parse_jaas_config_entry(*jaas);
    if (!entry) return fmt::format("config '{}': {}", jaas_key, entry.error());
    if (entry->login_module != oauthbearer_login_module)
      return fmt::format("config '{}': login module '{}' is not {}", jaas_key, entry->login_module,
                         oauthbearer_login_module);
    const std::string url_key = key_name(cfg, l.name, jwks_url_key);
    auto url = config::listener_value(cfg, l.name, jwks_url_key);
    if (!url || trimmed(*url).empty())
      return fmt::format("The OAuth validator for the broker requires \"{}\" to be configured so that JWT signatures "
                         "can be verified, but it was not set (listener '{}')",
                         jwks_url_key, l.name);
    for (const auto& k : timing_keys)
      if (auto v = long_setting(cfg, l.name, k); !v) return v.error();
    if (is_http_url(*url)) {
      // Fetched when the broker starts (oauthbearer_keys::start); here only what can be checked offline.
      auto u = parse_http_url(*url);
      if (!u) return fmt::format("config '{}': {}", url_key, u.error());
      if (u->scheme == "https") {
        auto ctx = net::make_client_tls_context(jwks_trust_of(*entry).first);
        if (!ctx) return fmt::format("config '{}': the trust store of {} ({} options): {}", url_key, *url, jaas_key,
                                     ctx.error());
      }
      continue;
    }
    auto path = jwks_file_of_url(*url, url_key);
    if (!path) return path.error();
    std::error_code ec;
    if (!std::filesystem::exists(*path, ec))
      return fmt::format("config '{}' names a file ({}) that doesn't exist", url_key, path->string());
    if (std::filesystem::is_directory(*path, ec))
      return fmt::format("config '{}' references a directory ({}), not a file", url_key, path->string());
    auto keys = load_jwks(*path);
    if (!keys) return fmt::format("config '{}': {}", url_key, keys.error());
    if (keys->size() == 0)
      return fmt::format("config '{}': {} holds no usable verification key (RSA of 2048 bits or more, or EC P-256/384/521)",
                         url_key, path->string());
    if (!config::listener_value(cfg, l.name, "sasl.oauthbearer.expected.issuer"))
      log::get("server").warn("listener {}: OAUTHBEARER without sasl.oauthbearer.expected.issuer accepts a JWT bearing "
                              "any (or no) iss claim; set it to the issuer URL of your OAuth/OIDC provider",
                              l.name);
    if (!config::listener_value(cfg, l.name, "sasl.oauthbearer.expected.audience"))
      log::get("server").warn("listener {}: OAUTHBEARER without sasl.oauthbearer.expected.audience accepts only "
                              "tokens without an aud claim; set it to the audience(s) your brokers expect",
                              l.name);
  }
  return "";
}

result<std::unique_ptr<oauthbearer_keys>, std::string> oauthbearer_keys::start(const config::broker_config& cfg) {
  std::unique_ptr<oauthbearer_keys> out(new oauthbearer_keys());
  for (const auto& l : cfg.listeners) {
    if (!serves_oauthbearer(cfg, l.name)) continue;
    auto url = config::listener_value(cfg, l.name, jwks_url_key);
    if (!url || !is_http_url(*url)) continue;
    const std::string jaas_key = fmt::format("listener.name.{}.oauthbearer.sasl.jaas.config", lower(l.name));
    auto jaas = config::listener_value(cfg, l.name, "oauthbearer.sasl.jaas.config");
    if (!jaas) return failure{fmt::format("config '{}' is not set", jaas_key)};
    auto entry = security::parse_jaas_config_entry(*jaas);
    if (!entry) return failure{fmt::format("config '{}': {}", jaas_key, entry.error())};
    jwks_endpoint::options o;
    o.url = trimmed(*url);
    o.url_key = key_name(cfg, l.name, jwks_url_key);
    std::tie(o.trust, o.verify_host) = jwks_trust_of(*entry);
    auto refresh = long_setting(cfg, l.name, timing_keys[0]);
    auto backoff = long_setting(cfg, l.name, timing_keys[1]);
    auto backoff_max = long_setting(cfg, l.name, timing_keys[2]);
    for (const auto* r : {&refresh, &backoff, &backoff_max})
      if (!*r) return failure{r->error()};
    o.refresh_ms = std::max<int64_t>(*refresh, 1);
    o.retry_backoff_ms = *backoff;
    o.retry_backoff_max_ms = *backoff_max;
    // Listeners naming the same URL and trust share one endpoint.
    jwks_endpoint* shared = nullptr;
    for (const auto& e : out->_owned)
      if (e.first.url == o.url && e.first.trust == o.trust && e.first.verify_host == o.verify_host) shared = e.second.get();
    if (!shared) {
      auto e = jwks_endpoint::start(o);
      if (!e) return failure{e.error()};
      log::get("server").info("listener {}: OAUTHBEARER keys from {} ({} key(s), refreshed every {} ms)", l.name,
                              o.url, (*e)->keys()->size(), o.refresh_ms);
      shared = e->get();
      out->_owned.emplace_back(endpoint_key{o.url, o.trust, o.verify_host}, std::move(*e));
    }
    out->_by_listener[l.name] = shared;
  }
  return out;
}

oauthbearer_keys::~oauthbearer_keys() = default;

jwks_endpoint* oauthbearer_keys::endpoint_of(const std::string& listener) const {
  auto it = _by_listener.find(listener);
  return it == _by_listener.end() ? nullptr : it->second;
}

result<security::oauthbearer_token, std::string> validate_oauthbearer_token(const config::broker_config& cfg,
                                                                           const std::string& listener,
                                                                           std::string_view token, int64_t now_ms,
                                                                           const oauthbearer_keys* endpoints) {
  auto url = config::listener_value(cfg, listener, jwks_url_key);
  if (!url) return failure{std::string("no JWKS is configured (sasl.oauthbearer.jwks.endpoint.url)")};
  if (is_http_url(*url)) {
    jwks_endpoint* e = endpoints ? endpoints->endpoint_of(listener) : nullptr;
    if (!e) return failure{fmt::format("the JWKS endpoint {} was not fetched", trimmed(*url))};
    auto keys = e->keys();
    auto r = security::validate_jwt(token, *keys, oauthbearer_options_of(cfg, listener), now_ms);
    if (!r) {
      // A key id the set lacks: the provider may have rotated its keys (Kafka's expedited refresh).
      if (auto parsed = security::parse_jwt(token); parsed && !parsed->kid.empty() && !keys->has_kid(parsed->kid))
        e->key_missing(parsed->kid);
    }
    return r;
  }
  auto path = jwks_file_of_url(*url, jwks_url_key);
  if (!path) return failure{path.error()};
  auto keys = load_jwks(*path);
  if (!keys) return failure{fmt::format("the JWKS cannot be used: {}", keys.error())};
  return security::validate_jwt(token, *keys, oauthbearer_options_of(cfg, listener), now_ms);
}

}  // namespace gregor::server
