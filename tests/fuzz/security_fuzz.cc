// fuzz_security: what a client sends before it is authenticated, and the security settings an
// operator writes: SASL PLAIN, SCRAM and OAUTHBEARER messages, JWTs and JWKS documents (JSON),
// JAAS config, principal mapping rules, SCRAM credential specs, base64.
//
// Input: a selector byte, then the bytes. Selector % 9: 0 JSON; 1 a compact JWT and a JWKS
// document; 2 an OAUTHBEARER client message; 3 a PLAIN message; 4 a SCRAM-SHA-256 exchange (two
// client messages: a 2-byte length, the client-first, then the client-final); 5 JAAS config;
// 6 a SCRAM credential spec and a saslname; 7 base64 and base64url; 8 principal mapping rules
// (up to 1 KiB) and a DN to map with them (gregor::regex's parser and matcher).
//
// Properties: no crash, no out-of-bounds read, no unbounded work; base64 that decodes re-encodes
// to text that decodes to the same bytes.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz.h"
#include "gregor/base/base64.h"
#include "gregor/security/jaas.h"
#include "gregor/security/json.h"
#include "gregor/security/oauthbearer.h"
#include "gregor/security/plain.h"
#include "gregor/security/principal_mapping.h"
#include "gregor/security/scram.h"

namespace {

using namespace gregor;
using namespace gregor::security;

void scram_exchange(fuzz::input in) {
  static const scram_credential credential =
      scram_credential_from_password(scram_mechanism::sha256, "alice-secret", 4096);
  if (in.bytes.size() < 2) return;
  const size_t first_len = std::min<size_t>(size_t(in.bytes[0]) << 8 | in.bytes[1], in.bytes.size() - 2);
  auto first = in.bytes.subspan(2, first_len);
  auto final_msg = in.bytes.subspan(2 + first_len);
  scram_server server(
      scram_mechanism::sha256,
      [](const std::string& user) -> std::optional<scram_credential> {
        if (user == "alice") return credential;
        return std::nullopt;
      },
      [] { return std::string("fuzz-nonce"); });
  auto step = server.handle(first);
  if (step.what != sasl_step::state::next) return;
  step = server.handle(final_msg);
  FUZZ_CHECK(step.what != sasl_step::state::done, "a SCRAM exchange authenticated without the password");
  (void)server.handle(final_msg);  // after failing, every call fails
}

void base64_round_trip(fuzz::input in) {
  if (auto b = base64::decode(in.text())) {
    auto again = base64::decode(base64::encode(*b));
    FUZZ_CHECK(again && *again == *b, "base64 does not round-trip");
  }
  if (auto b = base64::decode_url(in.text())) {
    auto again = base64::decode_url(base64::encode_url(*b));
    FUZZ_CHECK(again && *again == *b, "base64url does not round-trip");
  }
  (void)base64::decode_url(in.text(), false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::input in{{data, size}};
  const uint8_t selector = in.take_byte();
  switch (selector % 9) {
    case 0: (void)parse_json(in.text()); break;
    case 1:
      if (auto token = parse_jwt(in.text())) (void)token;
      if (auto keys = jwk_set::parse(in.text())) (void)keys->size();
      break;
    case 2: (void)parse_oauthbearer_client_response(in.bytes); break;
    case 3: (void)parse_plain_message(in.bytes); break;
    case 4: scram_exchange(in); break;
    case 5: (void)parse_jaas_config(in.text()); break;
    case 6:
      // The parsing half only: a spec with a password costs a PBKDF2 of up to 16384 iterations
      // (milliseconds) in OpenSSL, which held the target at ~300 executions/s.
      if (in.bytes.size() <= 4096) (void)parse_scram_credential_args(in.text());
      (void)scram_decode_saslname(in.text());
      break;
    case 7: base64_round_trip(in); break;
    case 8: {
      // Rules, then after the first newline a DN they map. gregor::regex matches in time
      // text × program, so the DN is kept short enough for the largest program (20,000
      // instructions) to stay within milliseconds.
      if (in.bytes.size() > 1024) break;
      const std::string_view text = in.text();
      const size_t newline = text.find('\n');
      auto mapper = parse_principal_mapping_rules(text.substr(0, newline));
      if (mapper && newline != std::string_view::npos && text.size() - newline <= 256)
        (void)mapper->map(text.substr(newline + 1));
      break;
    }
  }
  return 0;
}
