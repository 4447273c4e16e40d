#include "gregor/security/scram.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdint>
#include <map>

#include <fmt/format.h>

#include "gregor/base/base64.h"
#include "gregor/base/assert.h"
#include "gregor/security/encoding.h"

namespace gregor::security {
namespace {

const EVP_MD* digest(scram_mechanism m) { return m == scram_mechanism::sha256 ? EVP_sha256() : EVP_sha512(); }

std::span<const uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string_view text_of(std::span<const uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::vector<uint8_t> random_bytes(size_t n) {
  std::vector<uint8_t> out(n);
  // Failure of the system's random source is not an input error: nothing sensible can continue.
  GREGOR_ASSERT(RAND_bytes(out.data(), int(n)) == 1);
  return out;
}

// 32 random letters and digits (Kafka's nonces are alphanumeric too; librdkafka mangles a nonce
// with base64's '+' and '/').
std::string random_nonce() {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (uint8_t b : random_bytes(32)) out.push_back(alphabet[b % alphabet.size()]);
  return out;
}

bool is_printable_nonce(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e || c == ',') return false;
  }
  return true;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 5802 / Kafka's ScramMessages: extensions are ",<ALPHA>+=<value>" with value characters in
// 0x01..0x7F except ','.
bool parse_extension(std::string_view token, std::string_view& key, std::string_view& value) {
  size_t eq = token.find('=');
  if (eq == std::string_view::npos || eq == 0) return false;
  key = token.substr(0, eq);
  value = token.substr(eq + 1);
  for (char c : key)
    if (!is_alpha(c)) return false;
  if (value.empty()) return false;
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x01 || u > 0x7f) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
}

}  // namespace

std::optional<scram_mechanism> scram_mechanism_from_name(std::string_view name) {
  if (name == "SCRAM-SHA-256") return scram_mechanism::sha256;
  if (name == "SCRAM-SHA-512") return scram_mechanism::sha512;
  return std::nullopt;
}

std::string_view scram_mechanism_name(scram_mechanism m) {
  return m == scram_mechanism::sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512";
}

int8_t scram_mechanism_type(scram_mechanism m) { return m == scram_mechanism::sha256 ? 1 : 2; }

std::optional<scram_mechanism> scram_mechanism_from_type(int8_t type) {
  if (type == 1) return scram_mechanism::sha256;
  if (type == 2) return scram_mechanism::sha512;
  return std::nullopt;
}

size_t scram_hash_bytes(scram_mechanism m) { return m == scram_mechanism::sha256 ? 32 : 64; }

std::optional<std::string> validate_scram_iterations(int32_t iterations) {
  if (iterations < scram_min_iterations) return std::string("Too few iterations");
  if (iterations > scram_max_iterations) return std::string("Too many iterations");
  return std::nullopt;
}

std::vector<uint8_t> scram_hmac(scram_mechanism m, std::span<const uint8_t> key, std::span<const uint8_t> data) {
  std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  static const uint8_t empty = 0;
  const uint8_t* d = data.empty() ? &empty : data.data();
  const uint8_t* k = key.empty() ? &empty : key.data();
  GREGOR_ASSERT(HMAC(digest(m), k, int(key.size()), d, data.size(), out.data(), &len) != nullptr);
  out.resize(len);
  return out;
}

std::vector<uint8_t> scram_hash(scram_mechanism m, std::span<const uint8_t> data) {
  std::vector<uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  GREGOR_ASSERT(EVP_Digest(data.data(), data.size(), out.data(), &len, digest(m), nullptr) == 1);
  out.resize(len);
  return out;
}

std::vector<uint8_t> scram_salted_password(scram_mechanism m, std::string_view password,
                                           std::span<const uint8_t> salt, int32_t iterations) {
  GREGOR_ASSERT(iterations >= 1);
  std::vector<uint8_t> out(scram_hash_bytes(m));
  static const uint8_t empty = 0;
  GREGOR_ASSERT(PKCS5_PBKDF2_HMAC(password.empty() ? "" : password.data(), int(password.size()),
                                  salt.empty() ? &empty : salt.data(), int(salt.size()), iterations, digest(m),
                                  int(out.size()), out.data()) == 1);
  return out;
}

scram_credential scram_credential_from_salted_password(scram_mechanism m, std::vector<uint8_t> salt,
                                                       std::span<const uint8_t> salted_password,
                                                       int32_t iterations) {
  scram_credential c;
  c.salt = std::move(salt);
  auto client_key = scram_hmac(m, salted_password, bytes_of("Client Key"));
  c.stored_key = scram_hash(m, client_key);
  c.server_key = scram_hmac(m, salted_password, bytes_of("Server Key"));
  c.iterations = iterations;
  return c;
}

scram_credential scram_credential_from_password(scram_mechanism m, std::string_view password, int32_t iterations) {
  auto salt = random_bytes(32);
  auto salted = scram_salted_password(m, password, salt, iterations);
  return scram_credential_from_salted_password(m, std::move(salt), salted, iterations);
}

result<scram_credential_args, std::string> parse_scram_credential_args(std::string_view spec) {
  const auto is_space = [](char c) { return static_cast<unsigned char>(c) <= ' '; };
  while (!spec.empty() && is_space(spec.front())) spec.remove_prefix(1);
  while (!spec.empty() && is_space(spec.back())) spec.remove_suffix(1);
  size_t eq = spec.find('=');
  if (eq == std::string_view::npos)
    return failure{fmt::format("Failed to find equals sign in SCRAM argument '{}'", spec)};
  std::string_view mechanism_name = spec.substr(0, eq);
  std::string_view config = spec.substr(eq + 1);
  auto mechanism = scram_mechanism_from_name(mechanism_name);
  if (!mechanism) return failure{fmt::format("The add-scram mechanism {} is not supported.", mechanism_name)};
  if (!config.starts_with("[")) return failure{std::string("Expected configuration string to start with [")};
  if (!config.ends_with("]") || config.size() < 2)
    return failure{std::string("Expected configuration string to end with ]")};
  config = config.substr(1, config.size() - 2);

  std::map<std::string, std::string, std::less<>> components;
  for (std::string_view component : split_commas(config)) {
    size_t ceq = component.find('=');
    if (ceq == std::string_view::npos)
      return failure{fmt::format("No equals sign found in SCRAM component: {}", component)};
    std::string_view value = component.substr(ceq + 1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    components[std::string(component.substr(0, ceq))] = std::string(value);
  }
  const auto take = [&](std::string_view key) -> std::optional<std::string> {
    auto it = components.find(key);
    if (it == components.end()) return std::nullopt;
    std::string v = std::move(it->second);
    components.erase(it);
    return v;
  };
  scram_credential_args out;
  out.mechanism = *mechanism;
  auto name = take("name");
  if (!name) return failure{std::string("You must supply 'name' to add-scram")};
  out.name = std::move(*name);
  std::optional<std::vector<uint8_t>>& salt = out.salt;
  if (auto text = take("salt")) {
    salt = base64::decode(*text);
    if (!salt) return failure{fmt::format("Failed to decode given salt: {}", *text)};
  }
  int32_t& iterations = out.iterations;
  if (auto text = take("iterations")) {
    int64_t v = 0;
    bool ok = !text->empty() && text->size() <= 10;
    for (char c : *text) ok = ok && c >= '0' && c <= '9' && (v = v * 10 + (c - '0')) <= INT32_MAX;
    if (!ok) return failure{fmt::format("Failed to parse iterations count: {}", *text)};
    iterations = int32_t(v);
  }
  std::optional<std::string>& password = out.password;
  password = take("password");
  auto salted_text = take("saltedpassword");
  std::optional<std::vector<uint8_t>>& salted = out.salted_password;
  if (!password) {
    if (!salted_text) return failure{std::string("You must supply one of 'password' or 'saltedpassword' to add-scram")};
    if (!salt) return failure{std::string("You must supply 'salt' with 'saltedpassword' to add-scram")};
    salted = base64::decode(*salted_text);
    if (!salted) return failure{fmt::format("Failed to decode given saltedPassword: {}", *salted_text)};
  }
  if (!components.empty()) {
    std::string keys;
    for (const auto& [k, v] : components) keys += (keys.empty() ? "" : ", ") + k;
    return failure{fmt::format("Unknown SCRAM configurations: {}", keys)};
  }
  if (iterations < scram_min_iterations)
    return failure{fmt::format("The 'iterations' value must be >= {} for add-scram using {}", scram_min_iterations,
                               scram_mechanism_name(*mechanism))};
  if (iterations > scram_max_iterations)
    return failure{fmt::format("The 'iterations' value must be <= {} for add-scram using {}", scram_max_iterations,
                               scram_mechanism_name(*mechanism))};
  return out;
}

result<scram_user_credential, std::string> parse_scram_credential_spec(std::string_view spec) {
  auto args = parse_scram_credential_args(spec);
  if (!args) return failure{std::move(args.error())};
  scram_user_credential out;
  out.name = std::move(args->name);
  out.mechanism = args->mechanism;
  std::vector<uint8_t> salt = args->salt ? std::move(*args->salt) : random_bytes(32);
  std::vector<uint8_t> salted = args->salted_password
                                    ? std::move(*args->salted_password)
                                    : scram_salted_password(args->mechanism, *args->password, salt, args->iterations);
  out.credential = scram_credential_from_salted_password(args->mechanism, std::move(salt), salted, args->iterations);
  return out;
}

std::string scram_encode_saslname(std::string_view username) {
  std::string out;
  out.reserve(username.size());
  for (char c : username) {
    if (c == ',')
      out += "=2C";
    else if (c == '=')
      out += "=3D";
    else
      out.push_back(c);
  }
  return out;
}

std::optional<std::string> scram_decode_saslname(std::string_view saslname) {
  std::string out;
  out.reserve(saslname.size());
  for (size_t i = 0; i < saslname.size(); ++i) {
    char c = saslname[i];
    if (c != '=') {
      out.push_back(c);
      continue;
    }
    std::string_view esc = saslname.substr(i + 1, 2);
    if (esc == "2C")
      out.push_back(',');
    else if (esc == "3D")
      out.push_back('=');
    else
      return std::nullopt;
    i += 2;
  }
  return out;
}

scram_server::scram_server(scram_mechanism m, lookup_fn lookup, nonce_fn nonce)
    : _mechanism(m), _lookup(std::move(lookup)), _nonce(std::move(nonce)) {
  GREGOR_ASSERT(_lookup != nullptr);
}

scram_step scram_server::fail(std::string error, bool is_public) {
  _state = state::failed;
  _credential = {};
  _server_first.clear();
  _client_first_bare.clear();
  return scram_step{scram_step::state::failed, {}, std::move(error), is_public};
}

scram_step scram_server::handle(std::span<const uint8_t> client_message) {
  std::string_view msg = text_of(client_message);
  switch (_state) {
    case state::client_first:
      return handle_first(msg);
    case state::client_final:
      return handle_final(msg);
    case state::done:
    case state::failed:
      break;
  }
  return fail(fmt::format("Unexpected challenge in Sasl server state {}", _state == state::done ? "COMPLETE" : "FAILED"));
}

scram_step scram_server::handle_first(std::string_view msg) {
  const auto invalid = [&] { return fail("Invalid SCRAM client first message format"); };
  // gs2-header = gs2-cbind-flag "," [ authzid ] ","
  if (msg.size() < 2) return invalid();
  if (msg[0] == 'y' || msg[0] == 'p') return fail("SCRAM channel binding is not supported");
  if (msg[0] != 'n' || msg[1] != ',') return invalid();
  size_t pos = 2;
  std::optional<std::string> authzid;
  if (msg.substr(pos, 2) == "a=") {
    size_t comma = msg.find(',', pos);
    if (comma == std::string_view::npos) return invalid();
    std::string_view raw = msg.substr(pos + 2, comma - pos - 2);
    if (raw.empty()) return invalid();
    authzid = scram_decode_saslname(raw);
    if (!authzid) return invalid();
    pos = comma;
  }
  if (pos >= msg.size() || msg[pos] != ',') return invalid();
  ++pos;
  _gs2_header = std::string(msg.substr(0, pos));
  std::string_view bare = msg.substr(pos);

  // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
  auto tokens = split_commas(bare);
  if (!tokens.empty() && tokens[0].starts_with("m="))
    return fail("SCRAM mandatory extensions are not supported");
  if (tokens.size() < 2 || !tokens[0].starts_with("n=") || !tokens[1].starts_with("r=")) return invalid();
  std::string_view saslname = tokens[0].substr(2);
  std::string_view client_nonce = tokens[1].substr(2);
  if (saslname.empty() || saslname.find('\0') != std::string_view::npos) return invalid();
  if (!is_printable_nonce(client_nonce)) return invalid();
  bool token_auth = false;
  for (size_t i = 2; i < tokens.size(); ++i) {
    std::string_view key, value;
    if (!parse_extension(tokens[i], key, value)) return invalid();
    if (key == "tokenauth" && iequals(value, "true")) token_auth = true;
  }

  auto username = scram_decode_saslname(saslname);
  if (!username) return fail("Authentication failed: Credentials could not be obtained");
  _username = std::move(*username);
  if (token_auth) return fail("Authentication failed: delegation token authentication is not supported");

  auto credential = _lookup(_username);
  if (!credential) return fail("Authentication failed: Invalid user credentials");
  if (authzid && !authzid->empty() && *authzid != _username)
    return fail("Authentication failed: Client requested an authorization id that is different from username", true);
  if (credential->iterations < scram_min_iterations)
    return fail(fmt::format("Iterations {} is less than the minimum {} for {}", credential->iterations,
                            scram_min_iterations, scram_mechanism_name(_mechanism)));
  size_t hash_bytes = scram_hash_bytes(_mechanism);
  if (credential->stored_key.size() != hash_bytes || credential->server_key.size() != hash_bytes)
    return fail("Authentication failed: Credentials could not be obtained");
  _credential = std::move(*credential);

  std::string server_nonce = _nonce ? _nonce() : random_nonce();
  GREGOR_ASSERT(is_printable_nonce(server_nonce));
  _client_first_bare = std::string(bare);
  _nonce_full = std::string(client_nonce) + server_nonce;
  _server_first = fmt::format("r={},s={},i={}", _nonce_full, base64::encode(_credential.salt), _credential.iterations);
  _state = state::client_final;
  return scram_step{scram_step::state::next, std::vector<uint8_t>(_server_first.begin(), _server_first.end()), {}, false};
}

scram_step scram_server::handle_final(std::string_view msg) {
  const auto invalid = [&] { return fail("Invalid SCRAM client final message format"); };
  // client-final-message = channel-binding "," nonce ["," extensions] "," proof
  auto tokens = split_commas(msg);
  if (tokens.size() < 3 || !tokens[0].starts_with("c=") || !tokens[1].starts_with("r=") ||
      !tokens.back().starts_with("p="))
    return invalid();
  for (size_t i = 2; i + 1 < tokens.size(); ++i) {
    std::string_view key, value;
    if (!parse_extension(tokens[i], key, value)) return invalid();
  }
  auto channel_binding = base64::decode(tokens[0].substr(2));
  auto proof = base64::decode(tokens.back().substr(2));
  if (!channel_binding || !proof) return invalid();
  std::string_view nonce = tokens[1].substr(2);
  // RFC 5802: without channel binding, c= carries the gs2 header the client sent first.
  if (text_of(*channel_binding) != _gs2_header) return fail("Invalid channel binding in the final client message.");
  // Exactly the nonce sent. (librdkafka 1.7's final message repeats its client nonce in front of
  // it; Kafka 4.3.1 refuses that exchange too, checked by test_sasl.py against Kafka.)
  if (nonce != _nonce_full) return fail("Invalid client nonce in the final client message.");
  size_t hash_bytes = scram_hash_bytes(_mechanism);
  if (proof->size() != hash_bytes) return fail("Invalid client credentials");

  std::string_view without_proof = msg.substr(0, msg.size() - tokens.back().size() - 1);
  std::string auth_message = fmt::format("{},{},{}", _client_first_bare, _server_first, without_proof);
  auto client_signature = scram_hmac(_mechanism, _credential.stored_key, bytes_of(auth_message));
  std::vector<uint8_t> client_key(hash_bytes);
  for (size_t i = 0; i < hash_bytes; ++i) client_key[i] = (*proof)[i] ^ client_signature[i];
  auto computed_stored_key = scram_hash(_mechanism, client_key);
  if (!constant_time_equal(computed_stored_key, _credential.stored_key)) return fail("Invalid client credentials");

  auto server_signature = scram_hmac(_mechanism, _credential.server_key, bytes_of(auth_message));
  std::string server_final = "v=" + base64::encode(server_signature);
  _state = state::done;
  _credential = {};
  return scram_step{scram_step::state::done, std::vector<uint8_t>(server_final.begin(), server_final.end()), {}, false};
}

scram_client::scram_client(scram_mechanism m, std::string username, std::string password, nonce_fn nonce)
    : _mechanism(m), _username(std::move(username)), _password(std::move(password)), _nonce(std::move(nonce)) {}

std::vector<uint8_t> scram_client::first_message() {
  _client_nonce = _nonce ? _nonce() : random_nonce();
  GREGOR_ASSERT(is_printable_nonce(_client_nonce));
  _first_bare = fmt::format("n={},r={}", scram_encode_saslname(_username), _client_nonce);
  std::string msg = "n,," + _first_bare;
  return {msg.begin(), msg.end()};
}

result<std::vector<uint8_t>, std::string> scram_client::handle_server_first(std::span<const uint8_t> server_first) {
  std::string_view msg = text_of(server_first);
  auto tokens = split_commas(msg);
  // server-first-message = [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]
  size_t at = !tokens.empty() && tokens[0].starts_with("m=") ? 1 : 0;
  if (tokens.size() < at + 3 || !tokens[at].starts_with("r=") || !tokens[at + 1].starts_with("s=") ||
      !tokens[at + 2].starts_with("i="))
    return failure{std::string("Invalid SCRAM server first message format")};
  std::string_view nonce = tokens[at].substr(2);
  auto salt = base64::decode(tokens[at + 1].substr(2));
  std::string_view iterations_text = tokens[at + 2].substr(2);
  int64_t iterations = 0;
  for (char c : iterations_text) {
    if (c < '0' || c > '9' || iterations > scram_max_iterations * int64_t(1000))
      return failure{std::string("Invalid SCRAM server first message format: invalid iterations")};
    iterations = iterations * 10 + (c - '0');
  }
  if (!salt || iterations_text.empty() || !is_printable_nonce(nonce))
    return failure{std::string("Invalid SCRAM server first message format")};
  if (!nonce.starts_with(_client_nonce) || nonce.size() == _client_nonce.size())
    return failure{std::string("Invalid server nonce: does not start with client nonce")};
  if (iterations < scram_min_iterations)
    return failure{fmt::format("Requested iterations {} is less than the minimum {} for {}", iterations,
                               scram_min_iterations, scram_mechanism_name(_mechanism))};
  // An upper bound too, so a hostile server cannot make us spin: Kafka's brokers never store more.
  if (iterations > scram_max_iterations)
    return failure{fmt::format("Requested iterations {} is more than the maximum {}", iterations, scram_max_iterations)};

  _salted_password = scram_salted_password(_mechanism, _password, *salt, int32_t(iterations));
  std::string without_proof = fmt::format("c=biws,r={}", nonce);
  _auth_message = fmt::format("{},{},{}", _first_bare, msg, without_proof);
  auto client_key = scram_hmac(_mechanism, _salted_password, bytes_of("Client Key"));
  auto stored_key = scram_hash(_mechanism, client_key);
  auto signature = scram_hmac(_mechanism, stored_key, bytes_of(_auth_message));
  for (size_t i = 0; i < client_key.size(); ++i) client_key[i] ^= signature[i];
  std::string final_msg = fmt::format("{},p={}", without_proof, base64::encode(client_key));
  return std::vector<uint8_t>(final_msg.begin(), final_msg.end());
}

result<void, std::string> scram_client::handle_server_final(std::span<const uint8_t> server_final) {
  std::string_view msg = text_of(server_final);
  if (_auth_message.empty()) return failure{std::string("Unexpected server final message")};
  if (msg.starts_with("e=")) return failure{fmt::format("Sasl authentication using {} failed with error: {}",
                                                        scram_mechanism_name(_mechanism), msg.substr(2))};
  if (!msg.starts_with("v=")) return failure{std::string("Invalid SCRAM server final message format")};
  auto signature = base64::decode(split_commas(msg.substr(2))[0]);
  if (!signature) return failure{std::string("Invalid SCRAM server final message format")};
  auto server_key = scram_hmac(_mechanism, _salted_password, bytes_of("Server Key"));
  auto expected = scram_hmac(_mechanism, server_key, bytes_of(_auth_message));
  if (!constant_time_equal(*signature, expected)) return failure{std::string("Invalid server signature in server final message")};
  return ok;
}

}  // namespace gregor::security
