#pragma once
// SASL/OAUTHBEARER (RFC 7628) as Kafka's OAuthBearerSaslServer with the broker's
// OAuthBearerValidatorCallbackHandler (BrokerJwtValidator over jose4j): the client's initial
// response carries a JWT (JWS compact serialization); its signature is checked against the keys
// of a JWKS (RFC 7517), then its claims: exp (required), iat (required), nbf, aud against
// sasl.oauthbearer.expected.audience, iss against sasl.oauthbearer.expected.issuer, with
// sasl.oauthbearer.clock.skew.seconds of leeway; the principal is User:<the sub claim> (the claim
// named by sasl.oauthbearer.sub.claim.name). Pure: the JWKS document is handed in as text; no I/O.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/security/json.h"
#include "gregor/security/sasl.h"

namespace gregor::security {


// ---- the client's initial response
// Kafka's OAuthBearerClientInitialResponse grammar: "n," ["a=" saslname] "," %x01
// *(key "=" value %x01) %x01, with key [A-Za-z]+, value [\x21-\x7E \t\r\n]+, and the auth pair
// "auth=Bearer <token>" (scheme compared case-insensitively; token [-_~+/.a-zA-Z0-9]+ "="*).
struct oauthbearer_client_response {
  std::string authzid;  // as sent (saslname escapes =2C and =3D are not decoded, as in Kafka)
  std::string token;
  std::map<std::string, std::string> extensions;  // every pair but auth
};
// Errors are Kafka's SaslException texts ("Invalid OAUTHBEARER client first message", ...).
result<oauthbearer_client_response, std::string> parse_oauthbearer_client_response(std::span<const uint8_t> message);
// What Kafka's client sends: n,[a=<authzid>],\x01auth=Bearer <token>[\x01k=v...]\x01\x01.
std::vector<uint8_t> oauthbearer_client_message(std::string_view token, std::string_view authzid = {},
                                                const std::map<std::string, std::string>& extensions = {});
// The error challenge OAuthBearerSaslServer answers a refused token with: {"status":"invalid_token"}.
inline constexpr std::string_view oauthbearer_invalid_token_challenge = R"({"status":"invalid_token"})";

// ---- JWS compact serialization
struct jwt {
  json_value header;
  json_value claims;
  std::string alg;  // header "alg"
  std::string kid;  // header "kid"; empty when absent
  std::string signing_input;  // base64url(header) "." base64url(payload)
  std::vector<uint8_t> signature;
};
// Three base64url sections, header and payload JSON objects, "alg" a string. Nothing verified.
result<jwt, std::string> parse_jwt(std::string_view compact);

// ---- JWKS
// A set of public verification keys: RSA (n, e; 2048 bits at least, as jose4j demands) and EC
// (P-256, P-384, P-521 with x, y). Keys of other types, or for "use" other than "sig", are
// skipped (counted in skipped()). Copyable (keys are shared, immutable).
class jwk_set {
 public:
  struct key;
  // Parses {"keys":[...]}; an error when the document is not that. Unusable keys are skipped.
  static result<jwk_set, std::string> parse(std::string_view document);
  size_t size() const { return _keys.size(); }
  size_t skipped() const { return _skipped; }
  // "" when a key of the set (matching the token's kid and alg) verifies the signature; else why not.
  std::string verify(const jwt& token) const;
  // Whether a key of the set has this "kid".
  bool has_kid(std::string_view kid) const;

 private:
  std::vector<std::shared_ptr<const key>> _keys;
  size_t _skipped = 0;
};

// ---- claims
struct jwt_validation_options {
  std::vector<std::string> expected_audience;   // sasl.oauthbearer.expected.audience
  std::optional<std::string> expected_issuer;   // sasl.oauthbearer.expected.issuer
  std::string sub_claim_name = "sub";           // sasl.oauthbearer.sub.claim.name
  std::string scope_claim_name = "scope";       // sasl.oauthbearer.scope.claim.name
  int64_t clock_skew_seconds = 30;              // sasl.oauthbearer.clock.skew.seconds
};

struct oauthbearer_token {
  std::string principal_name;  // the sub claim, trimmed
  int64_t expiry_ms = 0;       // exp, Unix epoch milliseconds
  int64_t issued_at_ms = 0;
  std::set<std::string> scopes;
};

// BrokerJwtValidator.validate(): the signature (alg "none" refused), then jose4j's claim checks in
// its order (exp and iat present and numeric; now - skew < exp; nbf <= now + skew; aud contains an
// expected audience, and a token with an aud claim is refused when no audience is configured, as
// jose4j does; iss equal to the expected issuer when one is set), then Kafka's own (the sub claim a
// non-blank string; scope a string or a list of strings). The error says why, for the broker's log
// (the client only ever sees oauthbearer_invalid_token_challenge).
result<oauthbearer_token, std::string> validate_jwt(std::string_view compact, const jwk_set& keys,
                                                     const jwt_validation_options& options, int64_t now_ms);

// OAUTHBEARER behind the common mechanism interface. The validator decides about the token (the
// broker passes validate_jwt over the listener's current JWKS). A refused token is answered with
// the {"status":"invalid_token"} challenge (state next, `error` = the validator's reason for the
// log); the client's %x01 reply then fails with that challenge as the public error, as Kafka's
// OAuthBearerSaslServer does. A malformed message fails at once (not public). An authzid other
// than the token's principal fails (public).
class oauthbearer_server final : public sasl_server {
 public:
  using validate_fn = std::function<result<oauthbearer_token, std::string>(std::string_view token)>;
  explicit oauthbearer_server(validate_fn validate) : _validate(std::move(validate)) {}
  sasl_step handle(std::span<const uint8_t> client_message) override;
  std::string_view mechanism_name() const override { return "OAUTHBEARER"; }
  const std::string& username() const override { return _principal; }
  std::optional<int64_t> credential_expiry_ms() const override { return _expiry_ms; }

 private:
  validate_fn _validate;
  bool _challenged = false;  // the last answer was the invalid_token challenge
  bool _finished = false;
  std::string _principal;
  std::optional<int64_t> _expiry_ms;
};

}  // namespace gregor::security
