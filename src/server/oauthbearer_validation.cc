#include "oauthbearer_validation.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "gregor/base/log.h"
#include "gregor/security/jaas.h"

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
    return failure{fmt::format("config '{}' = '{}': Gregor reads the JWKS from a file: URL only (an HTTP(S) JWKS "
                               "endpoint is not supported yet; save the provider's JWKS to a file and refresh it)",
                               key, u)};
  if (scheme != "file")
    return failure{fmt::format("config '{}' = '{}': expected a file: URL (file:///path/to/jwks.json)", key, u)};
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
    const std::string proto = config::security_protocol_of(cfg, l.name);
    if (proto != "SASL_PLAINTEXT" && proto != "SASL_SSL") continue;
    const auto mechanisms = config::listener_sasl_mechanisms(cfg, l.name);
    if (std::find(mechanisms.begin(), mechanisms.end(), "OAUTHBEARER") == mechanisms.end()) continue;
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

result<security::oauthbearer_token, std::string> validate_oauthbearer_token(const config::broker_config& cfg,
                                                                           const std::string& listener,
                                                                           std::string_view token, int64_t now_ms) {
  auto url = config::listener_value(cfg, listener, jwks_url_key);
  if (!url) return failure{std::string("no JWKS is configured (sasl.oauthbearer.jwks.endpoint.url)")};
  auto path = jwks_file_of_url(*url, jwks_url_key);
  if (!path) return failure{path.error()};
  auto keys = load_jwks(*path);
  if (!keys) return failure{fmt::format("the JWKS cannot be used: {}", keys.error())};
  return security::validate_jwt(token, *keys, oauthbearer_options_of(cfg, listener), now_ms);
}

}  // namespace gregor::server
