#pragma once
// SASL/SCRAM (RFC 5802, RFC 7677) as Kafka's broker speaks it: SCRAM-SHA-256 and SCRAM-SHA-512,
// credentials stored as salt + StoredKey + ServerKey + iterations (Kafka's ScramCredential and its
// UserScramCredentialRecord), and the server side of one authentication exchange.
// Pure: no I/O; OpenSSL's libcrypto supplies the hashes, PBKDF2 and the random nonce.
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/security/sasl.h"

namespace gregor::security {

enum class scram_mechanism { sha256, sha512 };

// "SCRAM-SHA-256" / "SCRAM-SHA-512" (exact, case-sensitive, as Kafka's ScramMechanism).
std::optional<scram_mechanism> scram_mechanism_from_name(std::string_view name);
std::string_view scram_mechanism_name(scram_mechanism m);
// Kafka's mechanism type numbers (DescribeUserScramCredentials, AlterUserScramCredentials,
// UserScramCredentialRecord): 0 UNKNOWN, 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
inline constexpr int8_t scram_mechanism_type_unknown = 0;
int8_t scram_mechanism_type(scram_mechanism m);
std::optional<scram_mechanism> scram_mechanism_from_type(int8_t type);
// Length of the mechanism's hash: 32 for SHA-256, 64 for SHA-512 (StoredKey, ServerKey, proofs).
size_t scram_hash_bytes(scram_mechanism m);

// Kafka accepts stored credentials with 4096..16384 iterations (ScramMechanism.minIterations and
// ScramControlManager.MAX_ITERATIONS); an exchange against a credential below the minimum fails.
inline constexpr int32_t scram_min_iterations = 4096;
inline constexpr int32_t scram_max_iterations = 16384;
// nullopt when AlterUserScramCredentials may store this iteration count, otherwise Kafka's message
// for UNACCEPTABLE_CREDENTIAL ("Too few iterations" / "Too many iterations").
std::optional<std::string> validate_scram_iterations(int32_t iterations);

struct scram_credential {
  std::vector<uint8_t> salt, stored_key, server_key;
  int32_t iterations = 0;
};

// SaltedPassword = Hi(password, salt, i), i.e. PBKDF2-HMAC with the mechanism's hash and an output
// as long as the hash. The password is used as UTF-8 bytes, unnormalised, as Kafka does.
// Requires iterations >= 1.
std::vector<uint8_t> scram_salted_password(scram_mechanism m, std::string_view password,
                                           std::span<const uint8_t> salt, int32_t iterations);
// StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey = HMAC(SaltedPassword, "Server Key").
// AlterUserScramCredentials carries salt + salted password; the broker stores only these keys.
scram_credential scram_credential_from_salted_password(scram_mechanism m, std::vector<uint8_t> salt,
                                                       std::span<const uint8_t> salted_password,
                                                       int32_t iterations);
// A fresh credential for a password: 32 random salt bytes (RAND_bytes). For tests and tooling.
scram_credential scram_credential_from_password(scram_mechanism m, std::string_view password,
                                                int32_t iterations);

// A credential given in Kafka's `kafka-storage format --add-scram` syntax (ScramParser), e.g.
//   SCRAM-SHA-256=[name=alice,password=alice-secret]
//   SCRAM-SHA-512=[name=alice,iterations=8192,salt="<base64>",saltedpassword="<base64>"]
// for bootstrapping the first SCRAM users before any AlterUserScramCredentials. Defaults: 4096
// iterations, 32 random salt bytes. Errors use Kafka's messages ("You must supply 'name' to
// add-scram", "The 'iterations' value must be >= 4096 for add-scram using SCRAM-SHA-256", ...).
struct scram_user_credential {
  std::string name;
  scram_mechanism mechanism = scram_mechanism::sha256;
  scram_credential credential;
};
result<scram_user_credential, std::string> parse_scram_credential_spec(std::string_view spec);
// The parsing half of parse_scram_credential_spec, with every check and error it makes, but no
// salt drawn and no password hashed (PBKDF2 of up to 16384 iterations): exactly one of password
// and salted_password is set, and salt is set with salted_password.
struct scram_credential_args {
  std::string name;
  scram_mechanism mechanism = scram_mechanism::sha256;
  int32_t iterations = scram_min_iterations;
  std::optional<std::vector<uint8_t>> salt;
  std::optional<std::string> password;
  std::optional<std::vector<uint8_t>> salted_password;
};
result<scram_credential_args, std::string> parse_scram_credential_args(std::string_view spec);

// The server side of one SCRAM exchange, Kafka's ScramSaslServer: handle(client-first) returns the
// server-first message, handle(client-final) returns the server-final message `v=<signature>` and
// completes. Any failure is final; later calls fail too.
//
// Rules (Kafka's, plus RFC 5802 checks Kafka leaves out, marked *):
// - gs2 header "n,," or "n,a=<authzid>,"; channel binding ('y', 'p') is refused; a reserved
//   mandatory extension (m=...) is refused*.
// - extensions after the nonce are accepted and ignored, except tokenauth=true (delegation
//   tokens), which Gregor does not support: the exchange fails.
// - unknown user: fails at the first message with "Authentication failed: Invalid user
//   credentials", as Kafka does (Kafka's server looks the credential up before answering).
// - authzid present and different from the username: fails (a public error).
// - stored iterations below scram_min_iterations: fails.
// - client-final: c= must be the base64 of the gs2 header*, r= must be the full nonce, p= must
//   prove knowledge of the password (compared in constant time).
//
// Owned by one connection's SASL state; not thread-safe. The lookup runs inside handle().
class scram_server final : public sasl_server {
 public:
  // sasl_step (sasl.h): { state { next, done, failed } what; response; error; error_is_public }.
  using scram_step = sasl_step;
  using lookup_fn = std::function<std::optional<scram_credential>(const std::string& username)>;
  using nonce_fn = std::function<std::string()>;

  // nonce: the server's part of the nonce; default 32 printable characters from RAND_bytes. An
  // injected nonce must be non-empty printable ASCII without ','.
  scram_server(scram_mechanism m, lookup_fn lookup, nonce_fn nonce = {});

  scram_step handle(std::span<const uint8_t> client_message) override;
  std::string_view mechanism_name() const override { return scram_mechanism_name(_mechanism); }

  scram_mechanism mechanism() const { return _mechanism; }
  bool done() const { return _state == state::done; }
  // The authenticated username (the saslname with =2C and =3D decoded). Valid once done; during
  // the exchange it holds the name the client claimed.
  const std::string& username() const override { return _username; }

 private:
  enum class state { client_first, client_final, done, failed };
  scram_step handle_first(std::string_view msg);
  scram_step handle_final(std::string_view msg);
  scram_step fail(std::string error, bool is_public = false);

  scram_mechanism _mechanism;
  lookup_fn _lookup;
  nonce_fn _nonce;
  state _state = state::client_first;
  std::string _username;
  std::string _gs2_header;
  std::string _client_first_bare;
  std::string _server_first;
  std::string _nonce_full;
  scram_credential _credential;
};
using scram_step = scram_server::scram_step;

// The client side of one exchange, Kafka's ScramSaslClient, for a broker that authenticates to
// another listener (inter-broker or controller SASL). Sends no authzid and no extensions, as
// Kafka's client. Not thread-safe.
class scram_client {
 public:
  using nonce_fn = std::function<std::string()>;
  scram_client(scram_mechanism m, std::string username, std::string password, nonce_fn nonce = {});

  // "n,,n=<saslname>,r=<client nonce>".
  std::vector<uint8_t> first_message();
  // Checks the server-first message (nonce extends ours, salt is base64, iterations at least
  // scram_min_iterations) and returns the client-final message with the proof.
  result<std::vector<uint8_t>, std::string> handle_server_first(std::span<const uint8_t> server_first);
  // Checks the server's signature (or reports its e= error). Success means the server knows the
  // credential, not just that it accepted us.
  result<void, std::string> handle_server_final(std::span<const uint8_t> server_final);

 private:
  scram_mechanism _mechanism;
  std::string _username, _password, _client_nonce, _first_bare, _auth_message;
  std::vector<uint8_t> _salted_password;
  nonce_fn _nonce;
};

// RFC 5802 saslname encoding: ',' → "=2C", '=' → "=3D", and back. decode returns nullopt for an
// '=' that starts neither escape.
std::string scram_encode_saslname(std::string_view username);
std::optional<std::string> scram_decode_saslname(std::string_view saslname);

// Building blocks of the exchange, public so a test-side client can compute proofs.
std::vector<uint8_t> scram_hmac(scram_mechanism m, std::span<const uint8_t> key,
                                std::span<const uint8_t> data);
std::vector<uint8_t> scram_hash(scram_mechanism m, std::span<const uint8_t> data);

}  // namespace gregor::security
