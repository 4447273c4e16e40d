#pragma once
// SASL/PLAIN (RFC 4616) as Kafka's PlainSaslServer handles it: one client message
// `[authzid] NUL authcid NUL passwd`, checked against the users of the listener's JAAS config
// (see jaas.h, plain_users()).
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/security/sasl.h"

namespace gregor::security {

struct plain_credentials {
  std::string authzid, username, password;
};

// Splits the message as Kafka does (at the first two NULs; a third field keeps any further NULs)
// and refuses what Kafka refuses before checking the password: an empty username
// ("Authentication failed: username not specified"), an empty password ("Authentication failed:
// password not specified"), and an authzid that is neither empty nor the username
// ("Authentication failed: Client requested an authorization id that is different from username").
result<plain_credentials, std::string> parse_plain_message(std::span<const uint8_t> message);

struct plain_failure {
  std::string message;
  // True when Kafka sends `message` to the client (SaslAuthenticationException); otherwise the
  // response carries sasl_generic_failure_message() (scram.h).
  bool is_public = false;
};

// The whole PLAIN exchange in Kafka's order: parse, then the password check ("Authentication
// failed: Invalid username or password", public), then the authzid check (public). `users` maps
// username → password (plain_users() of the JAAS entry); passwords are compared in constant time.
// Returns the authenticated username.
result<std::string, plain_failure> authenticate_plain(std::span<const uint8_t> message,
                                                      const std::map<std::string, std::string>& users);

// PLAIN behind the common mechanism interface: one message, then done (empty response) or failed,
// with the errors and publicity of authenticate_plain(). Holds a copy of the users.
class plain_server final : public sasl_server {
 public:
  explicit plain_server(std::map<std::string, std::string> users) : _users(std::move(users)) {}
  sasl_step handle(std::span<const uint8_t> client_message) override;
  std::string_view mechanism_name() const override { return "PLAIN"; }
  const std::string& username() const override { return _username; }

 private:
  std::map<std::string, std::string> _users;
  std::string _username;
  bool _used = false;
};

// The client's PLAIN message: authzid NUL username NUL password (Kafka's client sends an empty
// authzid).
std::vector<uint8_t> plain_client_message(std::string_view username, std::string_view password,
                                          std::string_view authzid = {});

}  // namespace gregor::security
