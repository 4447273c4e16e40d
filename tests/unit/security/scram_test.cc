// Proves that the SCRAM server reproduces RFC 7677's SCRAM-SHA-256 exchange byte for byte, completes
// a SCRAM-SHA-512 exchange with an independent client, and fails (never crashes) on wrong
// passwords, wrong nonces, tampered proofs, unknown users, refused extensions and malformed input.
#include <memory>

#include <gtest/gtest.h>

#include "gregor/base/base64.h"
#include "gregor/security/encoding.h"
#include "gregor/security/scram.h"

namespace gregor::security {
namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }
std::string text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }
std::span<const uint8_t> span_of(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The credential store of RFC 7677's example: user "user", password "pencil".
scram_credential rfc7677_credential() {
  auto salt = base64::decode("W22ZaJ0SNY7soEsUEjb6gQ==");
  EXPECT_TRUE(salt.has_value());
  auto salted = scram_salted_password(scram_mechanism::sha256, "pencil", *salt, 4096);
  return scram_credential_from_salted_password(scram_mechanism::sha256, *salt, salted, 4096);
}

TEST(scram, rfc7677_sha256_exchange_is_reproduced_exactly) {
  scram_server server(
      scram_mechanism::sha256,
      [](const std::string& user) -> std::optional<scram_credential> {
        if (user == "user") return rfc7677_credential();
        return std::nullopt;
      },
      [] { return std::string("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"); });

  auto first = server.handle(bytes("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  ASSERT_EQ(first.what, scram_step::state::next) << first.error;
  EXPECT_EQ(text(first.response),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");

  auto final = server.handle(
      bytes("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
  ASSERT_EQ(final.what, scram_step::state::done) << final.error;
  EXPECT_EQ(text(final.response), "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  EXPECT_TRUE(server.done());
  EXPECT_EQ(server.username(), "user");

  // The exchange is over: another message is an error, not a crash.
  auto extra = server.handle(bytes("c=biws"));
  EXPECT_EQ(extra.what, scram_step::state::failed);
}

TEST(scram, rfc7677_keys_from_the_salted_password) {
  // AlterUserScramCredentials sends salt + salted password: the stored keys must be the ones a
  // password-based derivation gives, and a different password gives different keys.
  auto c = rfc7677_credential();
  EXPECT_EQ(c.iterations, 4096);
  EXPECT_EQ(c.stored_key.size(), 32u);
  EXPECT_EQ(c.server_key.size(), 32u);
  auto other = scram_credential_from_salted_password(
      scram_mechanism::sha256, c.salt, scram_salted_password(scram_mechanism::sha256, "pencil2", c.salt, 4096), 4096);
  EXPECT_NE(other.stored_key, c.stored_key);
}

TEST(scram, mechanism_names_and_type_numbers) {
  EXPECT_EQ(scram_mechanism_from_name("SCRAM-SHA-256"), scram_mechanism::sha256);
  EXPECT_EQ(scram_mechanism_from_name("SCRAM-SHA-512"), scram_mechanism::sha512);
  EXPECT_EQ(scram_mechanism_from_name("scram-sha-256"), std::nullopt);
  EXPECT_EQ(scram_mechanism_from_name("PLAIN"), std::nullopt);
  EXPECT_EQ(scram_mechanism_name(scram_mechanism::sha512), "SCRAM-SHA-512");
  EXPECT_EQ(scram_mechanism_type(scram_mechanism::sha256), 1);
  EXPECT_EQ(scram_mechanism_type(scram_mechanism::sha512), 2);
  EXPECT_EQ(scram_mechanism_from_type(2), scram_mechanism::sha512);
  EXPECT_EQ(scram_mechanism_from_type(0), std::nullopt);
  EXPECT_EQ(scram_mechanism_from_type(3), std::nullopt);
}

TEST(scram, iteration_bounds_match_kafka) {
  EXPECT_EQ(validate_scram_iterations(4095), "Too few iterations");
  EXPECT_EQ(validate_scram_iterations(4096), std::nullopt);
  EXPECT_EQ(validate_scram_iterations(16384), std::nullopt);
  EXPECT_EQ(validate_scram_iterations(16385), "Too many iterations");
}

TEST(scram, add_scram_specs_parse_as_kafka_storage_does) {
  auto a = parse_scram_credential_spec("SCRAM-SHA-256=[name=user,password=pencil,salt=\"W22ZaJ0SNY7soEsUEjb6gQ==\"]");
  ASSERT_TRUE(a.has_value()) << a.error();
  EXPECT_EQ(a->name, "user");
  EXPECT_EQ(a->mechanism, scram_mechanism::sha256);
  auto rfc = rfc7677_credential();
  EXPECT_EQ(a->credential.iterations, 4096);
  EXPECT_EQ(a->credential.salt, rfc.salt);
  EXPECT_EQ(a->credential.stored_key, rfc.stored_key);
  EXPECT_EQ(a->credential.server_key, rfc.server_key);

  // The salted password form gives the same keys without the password.
  auto salted = scram_salted_password(scram_mechanism::sha256, "pencil", rfc.salt, 4096);
  auto b = parse_scram_credential_spec("SCRAM-SHA-256=[name=user,salt=W22ZaJ0SNY7soEsUEjb6gQ==,saltedpassword=" +
                                       base64::encode(salted) + ",iterations=4096]");
  ASSERT_TRUE(b.has_value()) << b.error();
  EXPECT_EQ(b->credential.stored_key, rfc.stored_key);

  auto c = parse_scram_credential_spec(" SCRAM-SHA-512=[name=alice,password=alice-secret,iterations=8192] ");
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->credential.iterations, 8192);
  EXPECT_EQ(c->credential.salt.size(), 32u);
  EXPECT_EQ(c->credential.stored_key.size(), 64u);

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"SCRAM-SHA-256", "Failed to find equals sign in SCRAM argument 'SCRAM-SHA-256'"},
      {"SCRAM-SHA-1=[name=a,password=b]", "The add-scram mechanism SCRAM-SHA-1 is not supported."},
      {"SCRAM-SHA-256=name=a,password=b]", "Expected configuration string to start with ["},
      {"SCRAM-SHA-256=[name=a,password=b", "Expected configuration string to end with ]"},
      {"SCRAM-SHA-256=[password=b]", "You must supply 'name' to add-scram"},
      {"SCRAM-SHA-256=[name=a]", "You must supply one of 'password' or 'saltedpassword' to add-scram"},
      {"SCRAM-SHA-256=[name=a,saltedpassword=AAAA]", "You must supply 'salt' with 'saltedpassword' to add-scram"},
      {"SCRAM-SHA-256=[name=a,password=b,iterations=4095]",
       "The 'iterations' value must be >= 4096 for add-scram using SCRAM-SHA-256"},
      {"SCRAM-SHA-256=[name=a,password=b,iterations=16385]",
       "The 'iterations' value must be <= 16384 for add-scram using SCRAM-SHA-256"},
      {"SCRAM-SHA-256=[name=a,password=b,iterations=x]", "Failed to parse iterations count: x"},
      {"SCRAM-SHA-256=[name=a,password=b,salt=***]", "Failed to decode given salt: ***"},
      {"SCRAM-SHA-256=[name=a,password=b,color=red]", "Unknown SCRAM configurations: color"},
      {"SCRAM-SHA-256=[name=a,password]", "No equals sign found in SCRAM component: password"},
  };
  for (const auto& [spec, error] : bad) {
    auto r = parse_scram_credential_spec(spec);
    ASSERT_FALSE(r.has_value()) << spec;
    EXPECT_EQ(r.error(), error) << spec;
    // The parsing half refuses the same specs with the same messages.
    auto args = parse_scram_credential_args(spec);
    ASSERT_FALSE(args.has_value()) << spec;
    EXPECT_EQ(args.error(), error) << spec;
  }
  // And hands over what it parsed without hashing.
  auto args = parse_scram_credential_args("SCRAM-SHA-512=[name=alice,password=alice-secret,iterations=8192]");
  ASSERT_TRUE(args.has_value()) << args.error();
  EXPECT_EQ(args->name, "alice");
  EXPECT_EQ(args->mechanism, scram_mechanism::sha512);
  EXPECT_EQ(args->iterations, 8192);
  EXPECT_EQ(args->password, "alice-secret");
  EXPECT_FALSE(args->salt);
  EXPECT_FALSE(args->salted_password);
}

TEST(scram, saslname_escapes_round_trip) {
  EXPECT_EQ(scram_encode_saslname("a,b=c"), "a=2Cb=3Dc");
  EXPECT_EQ(scram_decode_saslname("a=2Cb=3Dc"), "a,b=c");
  EXPECT_EQ(scram_decode_saslname("a=2"), std::nullopt);
  EXPECT_EQ(scram_decode_saslname("a=41"), std::nullopt);
}

TEST(scram, base64_is_strict) {
  EXPECT_EQ(base64::encode(span_of("")), "");
  EXPECT_EQ(base64::encode(span_of("f")), "Zg==");
  EXPECT_EQ(base64::encode(span_of("fo")), "Zm8=");
  EXPECT_EQ(base64::encode(span_of("foobar")), "Zm9vYmFy");
  EXPECT_EQ(text(*base64::decode("Zm9vYg==")), "foob");
  EXPECT_EQ(base64::decode("Zm9vYg="), std::nullopt);
  EXPECT_EQ(base64::decode("Zm9v Yg=="), std::nullopt);
  EXPECT_EQ(base64::decode("Zg=a"), std::nullopt);
  EXPECT_EQ(base64::decode("====="), std::nullopt);
}

// A client written from RFC 5802, independent of the server's code paths: it derives its keys from
// the password and checks the server's signature.
struct test_client {
  test_client(scram_mechanism m, std::string u, std::string p) : mech(m), user(std::move(u)), password(std::move(p)) {}
  scram_mechanism mech;
  std::string user, password, client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
  std::string gs2 = "n,,";
  std::string first_bare, server_first;
  std::vector<uint8_t> salted;

  std::string first(std::string_view extensions = "") {
    first_bare = "n=" + scram_encode_saslname(user) + ",r=" + client_nonce;
    if (!extensions.empty()) first_bare += std::string(",") + std::string(extensions);
    return gs2 + first_bare;
  }
  // Parses r=,s=,i= and returns the client-final message; proof_flip flips one proof bit.
  std::string final(const std::string& server_first_msg, bool proof_flip = false, std::string nonce_override = "") {
    server_first = server_first_msg;
    std::string nonce, salt_b64;
    int32_t iterations = 0;
    size_t start = 0;
    while (start <= server_first.size()) {
      size_t comma = server_first.find(',', start);
      std::string part = server_first.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (part.starts_with("r=")) nonce = part.substr(2);
      if (part.starts_with("s=")) salt_b64 = part.substr(2);
      if (part.starts_with("i=")) iterations = std::stoi(part.substr(2));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    EXPECT_TRUE(nonce.starts_with(client_nonce));
    auto salt = *base64::decode(salt_b64);
    salted = scram_salted_password(mech, password, salt, iterations);
    if (!nonce_override.empty()) nonce = nonce_override;
    std::string without_proof = "c=" + base64::encode(span_of(gs2)) + ",r=" + nonce;
    std::string auth = first_bare + "," + server_first + "," + without_proof;
    auto client_key = scram_hmac(mech, salted, span_of("Client Key"));
    auto stored_key = scram_hash(mech, client_key);
    auto signature = scram_hmac(mech, stored_key, span_of(auth));
    std::vector<uint8_t> proof(client_key.size());
    for (size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ signature[i];
    if (proof_flip) proof[3] ^= 0x01;
    _auth = auth;
    return without_proof + ",p=" + base64::encode(proof);
  }
  bool verify_server_final(const std::string& msg) {
    auto server_key = scram_hmac(mech, salted, span_of("Server Key"));
    return msg == "v=" + base64::encode(scram_hmac(mech, server_key, span_of(_auth)));
  }
  std::string _auth;
};

class scram512 : public ::testing::Test {
 protected:
  void SetUp() override {
    // 4096 iterations: the minimum Kafka accepts, and quick enough for a unit test.
    alice = scram_credential_from_password(scram_mechanism::sha512, "alice-secret", 4096);
  }
  scram_server make_server() {
    return scram_server(scram_mechanism::sha512, [this](const std::string& user) -> std::optional<scram_credential> {
      looked_up.push_back(user);
      if (user == "alice") return alice;
      if (user == "weak") {
        auto c = alice;
        c.iterations = 4095;
        return c;
      }
      return std::nullopt;
    });
  }
  scram_credential alice;
  std::vector<std::string> looked_up;
};

TEST_F(scram512, full_exchange_with_a_test_client) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "alice", "alice-secret");
  auto s1 = server.handle(bytes(client.first()));
  ASSERT_EQ(s1.what, scram_step::state::next) << s1.error;
  auto s2 = server.handle(bytes(client.final(text(s1.response))));
  ASSERT_EQ(s2.what, scram_step::state::done) << s2.error;
  EXPECT_TRUE(client.verify_server_final(text(s2.response)));
  EXPECT_EQ(server.username(), "alice");
  EXPECT_EQ(looked_up, std::vector<std::string>{"alice"});
}

TEST_F(scram512, default_nonce_is_random_printable_and_extends_the_client_nonce) {
  auto a = make_server();
  auto b = make_server();
  test_client client(scram_mechanism::sha512, "alice", "alice-secret");
  auto ra = text(a.handle(bytes(client.first())).response);
  auto rb = text(b.handle(bytes(client.first())).response);
  ASSERT_TRUE(ra.starts_with("r=" + client.client_nonce));
  EXPECT_NE(ra, rb);
  std::string nonce = ra.substr(2, ra.find(',') - 2);
  EXPECT_GT(nonce.size(), client.client_nonce.size() + 16);
  for (char c : nonce) EXPECT_TRUE(c >= 0x21 && c <= 0x7e && c != ',');
}

TEST_F(scram512, wrong_password_fails_at_the_final_message) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "alice", "wrong");
  auto s1 = server.handle(bytes(client.first()));
  ASSERT_EQ(s1.what, scram_step::state::next);
  auto s2 = server.handle(bytes(client.final(text(s1.response))));
  EXPECT_EQ(s2.what, scram_step::state::failed);
  EXPECT_EQ(s2.error, "Invalid client credentials");
  EXPECT_FALSE(s2.error_is_public);
  EXPECT_TRUE(s2.response.empty());
  EXPECT_FALSE(server.done());
}

TEST_F(scram512, tampered_proof_fails) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "alice", "alice-secret");
  auto s1 = server.handle(bytes(client.first()));
  auto s2 = server.handle(bytes(client.final(text(s1.response), /*proof_flip=*/true)));
  EXPECT_EQ(s2.what, scram_step::state::failed);
  EXPECT_EQ(s2.error, "Invalid client credentials");
}

TEST_F(scram512, wrong_nonce_fails) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "alice", "alice-secret");
  auto s1 = server.handle(bytes(client.first()));
  auto s2 = server.handle(bytes(client.final(text(s1.response), false, client.client_nonce + "other")));
  EXPECT_EQ(s2.what, scram_step::state::failed);
  EXPECT_EQ(s2.error, "Invalid client nonce in the final client message.");
}

// librdkafka 1.7's client-final repeats its nonce in front of the server's full nonce; Kafka
// 4.3.1 refuses such an exchange, and so do we.
TEST_F(scram512, a_final_nonce_with_the_client_nonce_repeated_is_refused) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "alice", "alice-secret");
  auto s1 = server.handle(bytes(client.first()));
  const std::string first = text(s1.response);
  const std::string full = first.substr(2, first.find(',') - 2);
  auto s2 = server.handle(bytes(client.final(first, false, client.client_nonce + full)));
  EXPECT_EQ(s2.what, scram_step::state::failed);
  EXPECT_EQ(s2.error, "Invalid client nonce in the final client message.");
}

TEST_F(scram512, unknown_user_fails_at_the_first_message_as_kafka_does) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "mallory", "x");
  auto s1 = server.handle(bytes(client.first()));
  EXPECT_EQ(s1.what, scram_step::state::failed);
  EXPECT_EQ(s1.error, "Authentication failed: Invalid user credentials");
  EXPECT_FALSE(s1.error_is_public);
  EXPECT_EQ(sasl_generic_failure_message("SCRAM-SHA-512"),
            "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512");
}

TEST_F(scram512, credential_below_minimum_iterations_fails) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "weak", "alice-secret");
  auto s1 = server.handle(bytes(client.first()));
  EXPECT_EQ(s1.what, scram_step::state::failed);
  EXPECT_EQ(s1.error, "Iterations 4095 is less than the minimum 4096 for SCRAM-SHA-512");
}

TEST_F(scram512, authzid_equal_to_username_is_accepted_and_binds_the_channel) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "alice", "alice-secret");
  client.gs2 = "n,a=alice,";
  auto s1 = server.handle(bytes(client.first()));
  ASSERT_EQ(s1.what, scram_step::state::next) << s1.error;
  auto s2 = server.handle(bytes(client.final(text(s1.response))));
  EXPECT_EQ(s2.what, scram_step::state::done) << s2.error;
}

TEST_F(scram512, authzid_different_from_username_fails_with_a_public_error) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "alice", "alice-secret");
  client.gs2 = "n,a=admin,";
  auto s1 = server.handle(bytes(client.first()));
  EXPECT_EQ(s1.what, scram_step::state::failed);
  EXPECT_EQ(s1.error, "Authentication failed: Client requested an authorization id that is different from username");
  EXPECT_TRUE(s1.error_is_public);
}

TEST_F(scram512, channel_binding_must_repeat_the_gs2_header) {
  auto server = make_server();
  test_client client(scram_mechanism::sha512, "alice", "alice-secret");
  client.gs2 = "n,a=alice,";
  auto s1 = server.handle(bytes(client.first()));
  ASSERT_EQ(s1.what, scram_step::state::next);
  std::string final_msg = client.final(text(s1.response));
  // Swap in c=biws ("n,,"), which is not the header this client sent.
  final_msg = "c=biws" + final_msg.substr(final_msg.find(','));
  auto s2 = server.handle(bytes(final_msg));
  EXPECT_EQ(s2.what, scram_step::state::failed);
}

TEST_F(scram512, tokenauth_extension_is_refused_and_other_extensions_ignored) {
  {
    auto server = make_server();
    test_client client(scram_mechanism::sha512, "alice", "alice-secret");
    auto s1 = server.handle(bytes(client.first("tokenauth=true")));
    EXPECT_EQ(s1.what, scram_step::state::failed);
    EXPECT_TRUE(looked_up.empty());
  }
  {
    auto server = make_server();
    test_client client(scram_mechanism::sha512, "alice", "alice-secret");
    auto s1 = server.handle(bytes(client.first("foo=bar,tokenauth=false")));
    ASSERT_EQ(s1.what, scram_step::state::next) << s1.error;
    auto s2 = server.handle(bytes(client.final(text(s1.response))));
    EXPECT_EQ(s2.what, scram_step::state::done) << s2.error;
  }
}

TEST_F(scram512, escaped_usernames_are_decoded) {
  alice = scram_credential_from_password(scram_mechanism::sha512, "pw", 4096);
  scram_server server(scram_mechanism::sha512, [this](const std::string& user) -> std::optional<scram_credential> {
    if (user == "a,b=c") return alice;
    return std::nullopt;
  });
  test_client client(scram_mechanism::sha512, "a,b=c", "pw");
  auto s1 = server.handle(bytes(client.first()));
  ASSERT_EQ(s1.what, scram_step::state::next) << s1.error;
  auto s2 = server.handle(bytes(client.final(text(s1.response))));
  ASSERT_EQ(s2.what, scram_step::state::done) << s2.error;
  EXPECT_EQ(server.username(), "a,b=c");
}

TEST_F(scram512, malformed_client_first_messages_fail) {
  const std::vector<std::string> bad = {
      "",
      "n",
      "n,",
      "n,,",
      "x,,n=alice,r=abc",
      "y,,n=alice,r=abc",
      "p=tls-unique,,n=alice,r=abc",
      "n,,m=ext,n=alice,r=abc",
      "n,,n=,r=abc",
      "n,,n=alice",
      "n,,n=alice,r=",
      "n,,r=abc,n=alice",
      "n,,n=al=ice,r=abc",
      "n,,n=alice,r=ab c",
      "n,,n=alice,r=abc,",
      "n,,n=alice,r=abc,=x",
      "n,,n=alice,r=abc,k1=x",
      "n,,n=alice,r=abc,key=",
      "n,a=,n=alice,r=abc",
      "n,a=alice",
      std::string("n,,n=ali\0ce,r=abc", 17),
      std::string(100000, 'n'),
  };
  for (const auto& m : bad) {
    auto server = make_server();
    auto s = server.handle(bytes(m));
    EXPECT_EQ(s.what, scram_step::state::failed) << m;
    EXPECT_FALSE(s.error.empty()) << m;
    EXPECT_TRUE(s.response.empty()) << m;
  }
}

TEST_F(scram512, malformed_client_final_messages_fail) {
  test_client client(scram_mechanism::sha512, "alice", "alice-secret");
  const std::vector<std::string> bad = {
      "",
      "c=biws",
      "c=biws,r=x",
      "r=x,c=biws,p=AAAA",
      "c=bi@s,r=N,p=AAAA",
      "c=biws,r=N,p=AAA",
      "c=biws,r=N,p=AAAA",  // proof of the wrong length
      "c=biws,r=N,bad,p=AAAA",
      "c=biws,r=N,p=",
      ",,,",
  };
  for (auto m : bad) {
    auto server = make_server();
    auto s1 = server.handle(bytes(client.first()));
    ASSERT_EQ(s1.what, scram_step::state::next);
    std::string r = text(s1.response);
    std::string nonce = r.substr(2, r.find(',') - 2);
    if (auto at = m.find("r=N"); at != std::string::npos) m.replace(at, 3, "r=" + nonce);
    auto s2 = server.handle(bytes(m));
    EXPECT_EQ(s2.what, scram_step::state::failed) << m;
    EXPECT_FALSE(s2.error.empty()) << m;
    // A failed exchange stays failed.
    EXPECT_EQ(server.handle(bytes(client.first())).what, scram_step::state::failed);
  }
}

TEST(scram_client, rfc7677_client_messages_are_reproduced_exactly) {
  scram_client client(scram_mechanism::sha256, "user", "pencil", [] { return std::string("rOprNGfwEbeRWgbNEkqO"); });
  EXPECT_EQ(text(client.first_message()), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto final = client.handle_server_first(
      bytes("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
  ASSERT_TRUE(final.has_value()) << final.error();
  EXPECT_EQ(text(*final),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_TRUE(client.handle_server_final(bytes("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")).has_value());
}

TEST(scram_client, refuses_a_server_that_does_not_know_the_credential) {
  scram_client client(scram_mechanism::sha256, "user", "pencil", [] { return std::string("rOprNGfwEbeRWgbNEkqO"); });
  (void)client.first_message();
  ASSERT_TRUE(client
                  .handle_server_first(bytes(
                      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
                  .has_value());
  EXPECT_FALSE(client.handle_server_final(bytes("v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")).has_value());
  auto err = client.handle_server_final(bytes("e=invalid-proof"));
  ASSERT_FALSE(err.has_value());
  EXPECT_EQ(err.error(), "Sasl authentication using SCRAM-SHA-256 failed with error: invalid-proof");
}

TEST(scram_client, refuses_bad_server_first_messages) {
  for (std::string_view m : {
           "r=other%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",        // nonce not ours
           "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",  // no server part
           "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",  // too few iterations
           "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999",
           "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
           "r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
           "r=rOprNGfwEbeRWgbNEkqOx,i=4096",
           "",
       }) {
    scram_client client(scram_mechanism::sha256, "user", "pencil", [] { return std::string("rOprNGfwEbeRWgbNEkqO"); });
    (void)client.first_message();
    EXPECT_FALSE(client.handle_server_first(bytes(m)).has_value()) << m;
  }
}

TEST_F(scram512, library_client_and_server_agree_through_the_sasl_interface) {
  std::unique_ptr<sasl_server> server = std::make_unique<scram_server>(make_server());
  EXPECT_EQ(server->mechanism_name(), "SCRAM-SHA-512");
  scram_client client(scram_mechanism::sha512, "alice", "alice-secret");
  auto s1 = server->handle(client.first_message());
  ASSERT_EQ(s1.what, sasl_step::state::next) << s1.error;
  auto c2 = client.handle_server_first(s1.response);
  ASSERT_TRUE(c2.has_value()) << c2.error();
  auto s2 = server->handle(*c2);
  ASSERT_EQ(s2.what, sasl_step::state::done) << s2.error;
  EXPECT_TRUE(client.handle_server_final(s2.response).has_value());
  EXPECT_EQ(server->username(), "alice");
}

}  // namespace
}  // namespace gregor::security
