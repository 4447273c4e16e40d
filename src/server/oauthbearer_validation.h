#pragma once
// The SASL/OAUTHBEARER token validation of a listener, as Kafka's OAuthBearerValidatorCallbackHandler
// configured for it (listener-prefixed keys win): sasl.oauthbearer.jwks.endpoint.url (a file: URL,
// or an http(s) URL kept by a jwks_endpoint),
// sasl.oauthbearer.expected.audience, .expected.issuer, .sub.claim.name, .scope.claim.name and
// .clock.skew.seconds. check_oauthbearer_configs() is the start-up check. Stateless functions.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <utility>
#include <vector>
#include <string>
#include <string_view>

#include "gregor/base/result.h"
#include "gregor/config/broker_config.h"
#include "gregor/net/tls.h"
#include "gregor/security/oauthbearer.h"

namespace gregor::server {

inline constexpr std::string_view oauthbearer_validator_class =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
inline constexpr std::string_view oauthbearer_login_module =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule";

// The path of a file: URL (file:///p, file:/p, file://localhost/p); an error naming `key` for
// another scheme or a relative path.
result<std::filesystem::path, std::string> jwks_file_of_url(std::string_view url, std::string_view key);

// The validation options of `listener` from its config.
security::jwt_validation_options oauthbearer_options_of(const config::broker_config& cfg, const std::string& listener);

// For each SASL listener that enables OAUTHBEARER: the server callback handler is Kafka's
// OAuthBearerValidatorCallbackHandler (Kafka's default, the unsecured validator that accepts
// unsigned tokens, is refused), the JAAS config names OAuthBearerLoginModule, the JWKS URL is a
// file: URL whose file holds a JWKS with at least one usable key. "" or the first error, naming the key.
std::string check_oauthbearer_configs(const config::broker_config& cfg);

class jwks_endpoint;

// The http(s) JWKS endpoints of the OAUTHBEARER listeners (jwks_endpoint.h), one per URL and trust,
// fetched when the broker starts and refreshed on their own threads. Owned by the broker's core.
class oauthbearer_keys {
 public:
  // Fetches every listener's http(s) JWKS; the first failure, naming the key, stops the start.
  static result<std::unique_ptr<oauthbearer_keys>, std::string> start(const config::broker_config& cfg);
  ~oauthbearer_keys();
  // The listener's endpoint; null for a listener without an http(s) JWKS.
  jwks_endpoint* endpoint_of(const std::string& listener) const;

 private:
  oauthbearer_keys() = default;
  struct endpoint_key {
    std::string url;
    net::tls_settings trust;
    bool verify_host = true;
  };
  std::vector<std::pair<endpoint_key, std::unique_ptr<jwks_endpoint>>> _owned;
  std::map<std::string, jwks_endpoint*> _by_listener;
};

// Validates `token` for a connection of `listener` at `now_ms` (Unix epoch milliseconds) with the
// listener's settings and the keys its JWKS file holds now. The file is read at each
// authentication (a few KB, once per connection or re-authentication), so a rotated JWKS applies
// to the next authentication without a restart; an unreadable or malformed file refuses tokens,
// with the reason in the error.
// With an http(s) URL the keys are those `endpoints` last fetched for the listener; a token naming a
// key id they lack asks the endpoint for an early refresh (and is refused).
result<security::oauthbearer_token, std::string> validate_oauthbearer_token(const config::broker_config& cfg,
                                                                           const std::string& listener,
                                                                           std::string_view token, int64_t now_ms,
                                                                           const oauthbearer_keys* endpoints = nullptr);

}  // namespace gregor::server
