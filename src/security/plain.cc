#include "gregor/security/plain.h"

#include <string_view>

#include "gregor/security/encoding.h"

namespace gregor::security {
namespace {

constexpr std::string_view authzid_mismatch =
    "Authentication failed: Client requested an authorization id that is different from username";

// Kafka's PlainSaslServer.split: three fields, the last one taking the rest of the message.
plain_credentials split(std::string_view msg) {
  std::string fields[3];
  size_t start = 0;
  for (int i = 0; i < 3; ++i) {
    size_t end = i < 2 ? msg.find('\0', start) : std::string_view::npos;
    if (end == std::string_view::npos) {
      fields[i] = std::string(msg.substr(start));
      break;
    }
    fields[i] = std::string(msg.substr(start, end - start));
    start = end + 1;
  }
  return plain_credentials{std::move(fields[0]), std::move(fields[1]), std::move(fields[2])};
}

result<plain_credentials, plain_failure> parse(std::span<const uint8_t> message) {
  auto creds = split({reinterpret_cast<const char*>(message.data()), message.size()});
  if (creds.username.empty()) return failure{plain_failure{"Authentication failed: username not specified", false}};
  if (creds.password.empty()) return failure{plain_failure{"Authentication failed: password not specified", false}};
  return creds;
}

}  // namespace

result<plain_credentials, std::string> parse_plain_message(std::span<const uint8_t> message) {
  auto creds = parse(message);
  if (!creds) return failure{creds.error().message};
  if (!creds->authzid.empty() && creds->authzid != creds->username) return failure{std::string(authzid_mismatch)};
  return std::move(creds).value();
}

result<std::string, plain_failure> authenticate_plain(std::span<const uint8_t> message,
                                                      const std::map<std::string, std::string>& users) {
  auto creds = parse(message);
  if (!creds) return failure{creds.error()};
  auto it = users.find(creds->username);
  // An unknown user still costs a comparison, so the answer time says little about who exists.
  bool ok = constant_time_equal(creds->password, it == users.end() ? std::string_view{} : std::string_view(it->second));
  if (it == users.end() || !ok)
    return failure{plain_failure{"Authentication failed: Invalid username or password", true}};
  if (!creds->authzid.empty() && creds->authzid != creds->username)
    return failure{plain_failure{std::string(authzid_mismatch), true}};
  return std::move(creds->username);
}

sasl_step plain_server::handle(std::span<const uint8_t> client_message) {
  if (_used) return sasl_step{sasl_step::state::failed, {}, "Unexpected SASL/PLAIN message after the first", false};
  _used = true;
  auto user = authenticate_plain(client_message, _users);
  if (!user) return sasl_step{sasl_step::state::failed, {}, user.error().message, user.error().is_public};
  _username = std::move(user).value();
  return sasl_step{sasl_step::state::done, {}, {}, false};
}

std::vector<uint8_t> plain_client_message(std::string_view username, std::string_view password,
                                          std::string_view authzid) {
  std::vector<uint8_t> out;
  out.reserve(authzid.size() + username.size() + password.size() + 2);
  out.insert(out.end(), authzid.begin(), authzid.end());
  out.push_back(0);
  out.insert(out.end(), username.begin(), username.end());
  out.push_back(0);
  out.insert(out.end(), password.begin(), password.end());
  return out;
}

}  // namespace gregor::security
