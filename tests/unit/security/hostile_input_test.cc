// Proves that every parser of the security module answers hostile input with an error or a value,
// never a crash or a hang: seeded random messages (printed on failure, reproducible) into the SCRAM
// server at both steps, PLAIN, JAAS, the principal mapping rules, and OAUTHBEARER's client response,
// JSON, JWS and JWKS readers.
#include <random>

#include <gtest/gtest.h>

#include "gregor/base/base64.h"
#include "gregor/security/jaas.h"
#include "gregor/security/json.h"
#include "gregor/security/oauthbearer.h"
#include "gregor/security/plain.h"
#include "gregor/security/principal_mapping.h"
#include "gregor/security/scram.h"

namespace gregor::security {
namespace {

// Random strings drawn mostly from the characters the grammars care about, so the inputs get past
// the first checks often enough to exercise the deeper ones.
std::string random_message(std::mt19937_64& rng, size_t max_len) {
  static const char chars[] = "n,=ar=cpisvmyRULE:DEFAULT/\\$1()*.?[]^\"';/*\n \0\x7f\xff=2C=3Dbiws";
  static const std::string alphabet(chars, sizeof(chars) - 1);
  std::uniform_int_distribution<size_t> len(0, max_len);
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> coin(0, 9);
  std::string s(len(rng), '\0');
  for (char& c : s) c = coin(rng) == 0 ? char(byte(rng)) : alphabet[pick(rng)];
  return s;
}

std::span<const uint8_t> span_of(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

TEST(hostile_input, random_messages_never_crash_the_parsers) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  auto credential = scram_credential_from_password(scram_mechanism::sha256, "pw", 4096);
  const auto lookup = [&](const std::string&) -> std::optional<scram_credential> { return credential; };
  for (int i = 0; i < 3000; ++i) {
    std::string m = random_message(rng, 80);
    {
      scram_server server(scram_mechanism::sha256, lookup);
      auto step = server.handle(span_of(m));
      if (step.what == scram_step::state::failed) {
        EXPECT_FALSE(step.error.empty());
      }
    }
    {
      // A valid first message, then a random final one: the proof check must simply fail.
      scram_server server(scram_mechanism::sha256, lookup);
      std::string first = "n,,n=u,r=abc";
      ASSERT_EQ(server.handle(span_of(first)).what, scram_step::state::next);
      std::string final = "c=biws,r=" + m;
      EXPECT_NE(server.handle(span_of(final)).what, scram_step::state::done);
      EXPECT_NE(server.handle(span_of(m)).what, scram_step::state::done);
    }
    (void)parse_plain_message(span_of(m));
    (void)parse_jaas_config(m);
    (void)parse_oauthbearer_client_response(span_of("n,,\x01" + m));
    (void)parse_json(m);
    (void)jwk_set::parse(R"({"keys":[{"kty":"RSA","n":")" + m + "\"}]}");
    (void)parse_jwt(base64::encode_url(m) + "." + base64::encode_url(m) + "." + m);
    if (auto mapper = parse_principal_mapping_rules(m.substr(0, 24))) (void)mapper->map("CN=x,OU=y");
  }
}

}  // namespace
}  // namespace gregor::security
