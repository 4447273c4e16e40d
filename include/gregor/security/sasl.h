#pragma once
// What every SASL mechanism server has in common, so the broker's SaslAuthenticate handler drives
// PLAIN and SCRAM alike: feed each client token to handle(), send back the response, stop at done
// or failed. One object per authentication (a re-authentication, KIP-368, makes a new one).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gregor::security {

struct sasl_step {
  enum class state { next, done, failed } what;
  std::vector<uint8_t> response;
  // On failed, why (for the broker's log). On next, a reason for the log when the exchange took a
  // failing turn (OAUTHBEARER's invalid_token challenge). Empty otherwise.
  std::string error;
  // True when Kafka would send `error` to the client verbatim (SaslAuthenticationException);
  // otherwise the SaslAuthenticate response carries sasl_generic_failure_message().
  bool error_is_public = false;
};

class sasl_server {
 public:
  virtual ~sasl_server() = default;
  // One client token in, one step out. After done or failed every call fails.
  virtual sasl_step handle(std::span<const uint8_t> client_message) = 0;
  // The mechanism name as SaslHandshake lists it ("PLAIN", "SCRAM-SHA-256").
  virtual std::string_view mechanism_name() const = 0;
  // The authenticated username (the principal is "User:" + username). Valid once done.
  virtual const std::string& username() const = 0;
  // When the credential itself expires (Unix epoch ms; OAUTHBEARER: the token's exp), which bounds
  // the KIP-368 session lifetime. nullopt for mechanisms whose credentials do not expire.
  virtual std::optional<int64_t> credential_expiry_ms() const { return std::nullopt; }
};

// Kafka's SaslAuthenticate error message when the mechanism failed with a non-public error
// (SaslServerAuthenticator): "Authentication failed during authentication due to invalid
// credentials with SASL mechanism <mechanism>" ("re-authentication" when reauthenticating).
std::string sasl_generic_failure_message(std::string_view mechanism, bool reauthentication = false);

}  // namespace gregor::security
