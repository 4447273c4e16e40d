#pragma once
// The SASL/OAUTHBEARER token validation of a listener, as Kafka's OAuthBearerValidatorCallbackHandler
// configured for it (listener-prefixed keys win): sasl.oauthbearer.jwks.endpoint.url (a file: URL),
// sasl.oauthbearer.expected.audience, .expected.issuer, .sub.claim.name, .scope.claim.name and
// .clock.skew.seconds. check_oauthbearer_configs() is the start-up check. Stateless functions.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "gregor/base/result.h"
#include "gregor/config/broker_config.h"
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

// Validates `token` for a connection of `listener` at `now_ms` (Unix epoch milliseconds) with the
// listener's settings and the keys its JWKS file holds now. The file is read at each
// authentication (a few KB, once per connection or re-authentication), so a rotated JWKS applies
// to the next authentication without a restart; an unreadable or malformed file refuses tokens,
// with the reason in the error.
result<security::oauthbearer_token, std::string> validate_oauthbearer_token(const config::broker_config& cfg,
                                                                           const std::string& listener,
                                                                           std::string_view token, int64_t now_ms);

}  // namespace gregor::server
