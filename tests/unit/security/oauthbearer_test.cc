// Proves that SASL/OAUTHBEARER reads the client's initial response as Kafka's
// OAuthBearerClientInitialResponse does, verifies JWS signatures (RS256, ES256) against a JWKS with
// kid matching, validates the claims as Kafka's BrokerJwtValidator (jose4j) does, and that the
// mechanism answers a refused token with Kafka's invalid_token challenge.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "gregor/base/base64.h"
#include "gregor/security/json.h"
#include "gregor/security/oauthbearer.h"

namespace gregor::security {
namespace {

using namespace std::string_literals;
std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

constexpr int64_t now_s = 1'800'000'000;
constexpr int64_t now_ms = now_s * 1000;

// ---- test keys (made at run time) and token signing

struct test_key {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string alg, kid;
};

std::string bn_b64(const EVP_PKEY* k, const char* name, size_t pad = 0) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  std::vector<uint8_t> b(std::max<size_t>(pad, size_t(BN_num_bytes(bn))));
  BN_bn2binpad(bn, b.data(), int(b.size()));
  BN_free(bn);
  return base64::encode_url(b);
}

std::string jwk_of(const test_key& k) {
  if (k.alg == "RS256")
    return fmt::format(R"({{"kty":"RSA","kid":"{}","use":"sig","n":"{}","e":"{}"}})", k.kid,
                       bn_b64(k.pkey.get(), OSSL_PKEY_PARAM_RSA_N), bn_b64(k.pkey.get(), OSSL_PKEY_PARAM_RSA_E));
  return fmt::format(R"({{"kty":"EC","kid":"{}","crv":"P-256","x":"{}","y":"{}"}})", k.kid,
                     bn_b64(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32), bn_b64(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32));
}

const test_key& rsa_key() {
  static test_key k{std::shared_ptr<EVP_PKEY>(EVP_RSA_gen(2048), EVP_PKEY_free), "RS256", "rsa-1"};
  return k;
}
const test_key& other_rsa_key() {
  static test_key k{std::shared_ptr<EVP_PKEY>(EVP_RSA_gen(2048), EVP_PKEY_free), "RS256", "rsa-1"};
  return k;
}
const test_key& ec_key() {
  static test_key k{std::shared_ptr<EVP_PKEY>(EVP_EC_gen("P-256"), EVP_PKEY_free), "ES256", "ec-1"};
  return k;
}

std::string sign(const test_key& k, std::string_view header_json, std::string_view claims_json) {
  const std::string input = base64::encode_url(header_json) + "." + base64::encode_url(claims_json);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k.pkey.get());
  size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  std::vector<uint8_t> sig(len);
  EVP_DigestSign(ctx, sig.data(), &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (k.alg == "ES256") {  // DER → r || s
    const unsigned char* p = sig.data();
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, long(sig.size()));
    std::vector<uint8_t> raw(64);
    BN_bn2binpad(ECDSA_SIG_get0_r(es), raw.data(), 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), raw.data() + 32, 32);
    ECDSA_SIG_free(es);
    sig = raw;
  }
  return input + "." + base64::encode_url(sig);
}

std::string token(const test_key& k, std::string_view claims_json) {
  return sign(k, fmt::format(R"({{"alg":"{}","kid":"{}","typ":"JWT"}})", k.alg, k.kid), claims_json);
}

std::string claims(std::string extra = {}) {
  return fmt::format(R"({{"sub":"alice","iat":{},"exp":{},"aud":"kafka","iss":"https://issuer"{}}})", now_s - 10,
                     now_s + 600, extra);
}

jwk_set keys_of(std::initializer_list<const test_key*> ks) {
  std::string doc = R"({"keys":[)";
  bool first = true;
  for (const auto* k : ks) {
    doc += (first ? "" : ",") + jwk_of(*k);
    first = false;
  }
  auto set = jwk_set::parse(doc + "]}");
  EXPECT_TRUE(set.has_value()) << set.error();
  return *set;
}

jwt_validation_options options() {
  jwt_validation_options o;
  o.expected_audience = {"kafka"};
  o.expected_issuer = "https://issuer";
  return o;
}

// ---- the client's initial response

TEST(oauthbearer, client_initial_response_as_kafkas_client_writes_it) {
  auto r = parse_oauthbearer_client_response(bytes("n,,\x01" "auth=Bearer abc.def.ghi\x01\x01"));
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->token, "abc.def.ghi");
  EXPECT_EQ(r->authzid, "");
  EXPECT_TRUE(r->extensions.empty());
  auto ours = oauthbearer_client_message("t.o.k", "bob", {{"traceId", "123"}});
  EXPECT_EQ(std::string(ours.begin(), ours.end()), "n,a=bob,\x01" "auth=Bearer t.o.k\x01traceId=123\x01\x01");
  auto back = parse_oauthbearer_client_response(ours);
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(back->authzid, "bob");
  EXPECT_EQ(back->extensions.at("traceId"), "123");
}

TEST(oauthbearer, scheme_is_case_insensitive_and_extensions_may_come_first) {
  auto r = parse_oauthbearer_client_response(bytes("n,,\x01k=v w\x01" "auth=BEARER   a-b_c~d+e/f.g==\x01\x01"));
  ASSERT_TRUE(r.has_value()) << r.error();
  EXPECT_EQ(r->token, "a-b_c~d+e/f.g==");
  EXPECT_EQ(r->extensions.at("k"), "v w");
}

TEST(oauthbearer, malformed_client_responses_are_refused_with_kafkas_messages) {
  for (std::string bad : {"y,,\x01" "auth=Bearer t\x01\x01"s, "n,,auth=Bearer t\x01\x01"s,
                          "n,,\x01" "auth=Bearer t\x01"s, "n,,\x01" "auth=Bearer t"s, "n,a=x=y,\x01" "auth=Bearer t\x01\x01"s,
                          "n,,\x01k1=v\x01" "auth=Bearer t\x01\x01"s, "n,,\x01=v\x01\x01"s, ""s, "n,,\x01\x01\x01"s})
    EXPECT_FALSE(parse_oauthbearer_client_response(bytes(bad)).has_value()) << bad;
  EXPECT_EQ(parse_oauthbearer_client_response(bytes("n,,\x01k=v\x01\x01")).error(),
            "Invalid OAUTHBEARER client first message: 'auth' not specified");
  EXPECT_EQ(parse_oauthbearer_client_response(bytes("n,,\x01" "auth=Bearer\x01\x01")).error(),
            "Invalid OAUTHBEARER client first message: invalid 'auth' format");
  EXPECT_EQ(parse_oauthbearer_client_response(bytes("n,,\x01" "auth=Basic dXNlcg==\x01\x01")).error(),
            "Invalid scheme in OAUTHBEARER client first message: Basic");
  EXPECT_EQ(parse_oauthbearer_client_response(bytes("n,,\x01" "auth=Bearer t\x01\x01")).value().token, "t");
  EXPECT_TRUE(parse_oauthbearer_client_response(bytes("n,a=x=2Cy,\x01" "auth=Bearer t\x01\x01")).has_value());
}

// ---- base64url, JSON, JWS

TEST(oauthbearer, base64url_round_trips_and_refuses_other_alphabets) {
  for (std::string s : {""s, "f"s, "fo"s, "foo"s, "foob"s, "\xff\xfe\xfd"s}) {
    auto back = base64::decode_url(base64::encode_url(s));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(std::string(back->begin(), back->end()), s);
  }
  EXPECT_EQ(base64::encode_url("\xff\xfe\xfd"s), "__79");
  EXPECT_FALSE(base64::decode_url("ab+/").has_value());
  EXPECT_FALSE(base64::decode_url("a").has_value());
  EXPECT_TRUE(base64::decode_url("Zg==").has_value());
}

TEST(oauthbearer, json_keeps_strings_apart_from_numbers_and_refuses_what_is_not_json) {
  auto v = parse_json(R"({"a":"1","b":1,"c":[true,null,{"d":"\u00e9\n"}],"b":2.5e1})");
  ASSERT_TRUE(v.has_value()) << v.error();
  EXPECT_TRUE(v->find("a")->is_string());
  EXPECT_TRUE(v->find("b")->is_number());
  EXPECT_EQ(v->find("b")->number, 25);  // the last of a repeated name
  EXPECT_EQ(v->find("c")->items[2].find("d")->text, "\xc3\xa9\n");
  for (std::string bad : {"{"s, "{a:1}"s, "[1,]"s, "01"s, "\"x"s, "{\"a\":1}x"s, "'a'"s, "{\"a\":&x 1}"s,
                          std::string(40, '[') + std::string(40, ']')})
    EXPECT_FALSE(parse_json(bad).has_value()) << bad;
}

TEST(oauthbearer, jwt_needs_three_sections_and_json_objects) {
  EXPECT_FALSE(parse_jwt("a.b").has_value());
  EXPECT_FALSE(parse_jwt("a.b.c.d").has_value());
  EXPECT_FALSE(parse_jwt(".b.c").has_value());
  EXPECT_FALSE(parse_jwt(base64::encode_url("[]"s) + "." + base64::encode_url("{}"s) + ".c2ln").has_value());
  auto ok = parse_jwt(base64::encode_url(R"({"alg":"RS256","kid":"k"})"s) + "." + base64::encode_url("{}"s) + ".c2ln");
  ASSERT_TRUE(ok.has_value()) << ok.error();
  EXPECT_EQ(ok->alg, "RS256");
  EXPECT_EQ(ok->kid, "k");
}

// ---- signatures

TEST(oauthbearer, rs256_and_es256_tokens_verify_against_their_jwk) {
  const jwk_set keys = keys_of({&rsa_key(), &ec_key()});
  EXPECT_EQ(keys.size(), 2u);
  for (const test_key* k : {&rsa_key(), &ec_key()}) {
    auto t = validate_jwt(token(*k, claims()), keys, options(), now_ms);
    ASSERT_TRUE(t.has_value()) << k->alg << ": " << t.error();
    EXPECT_EQ(t->principal_name, "alice");
    EXPECT_EQ(t->expiry_ms, (now_s + 600) * 1000);
  }
}

TEST(oauthbearer, a_token_signed_by_another_key_is_refused) {
  const jwk_set keys = keys_of({&rsa_key()});
  auto t = validate_jwt(token(other_rsa_key(), claims()), keys, options(), now_ms);
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().find("signature is invalid"), std::string::npos) << t.error();
}

TEST(oauthbearer, the_kid_selects_the_key) {
  const jwk_set keys = keys_of({&rsa_key()});
  const std::string wrong_kid = sign(rsa_key(), R"({"alg":"RS256","kid":"nope"})", claims());
  auto t = validate_jwt(wrong_kid, keys, options(), now_ms);
  ASSERT_FALSE(t.has_value());
  EXPECT_NE(t.error().find("Unable to find a suitable verification key"), std::string::npos) << t.error();
  // Without a kid every key of the right type is a candidate.
  EXPECT_TRUE(validate_jwt(sign(rsa_key(), R"({"alg":"RS256"})", claims()), keys, options(), now_ms).has_value());
}

TEST(oauthbearer, alg_none_and_tampered_tokens_are_refused) {
  const jwk_set keys = keys_of({&rsa_key()});
  const std::string unsigned_token = base64::encode_url(R"({"alg":"none"})"s) + "." + base64::encode_url(claims()) + ".";
  EXPECT_FALSE(validate_jwt(unsigned_token, keys, options(), now_ms).has_value());
  const std::string none_with_sig = base64::encode_url(R"({"alg":"none"})"s) + "." + base64::encode_url(claims()) + ".AAAA";
  auto n = validate_jwt(none_with_sig, keys, options(), now_ms);
  ASSERT_FALSE(n.has_value());
  EXPECT_NE(n.error().find("'none' is a disallowed JWS algorithm"), std::string::npos) << n.error();
  // A claim changed after signing (sub alice → mallory).
  std::string t = token(rsa_key(), claims());
  const size_t d1 = t.find('.'), d2 = t.find('.', d1 + 1);
  std::string forged = claims();
  forged.replace(forged.find("alice"), 5, "mallory");
  t.replace(d1 + 1, d2 - d1 - 1, base64::encode_url(forged));
  EXPECT_FALSE(validate_jwt(t, keys, options(), now_ms).has_value());
  // An RS256 header over an EC key's signature finds no RSA key.
  EXPECT_FALSE(validate_jwt(sign(ec_key(), R"({"alg":"RS256","kid":"ec-1"})", claims()), keys_of({&ec_key()}),
                            options(), now_ms)
                   .has_value());
}

TEST(oauthbearer, jwks_skips_keys_it_cannot_use) {
  auto set = jwk_set::parse(fmt::format(R"({{"keys":[{{"kty":"oct","k":"AAAA"}},{{"kty":"RSA","n":"AQAB","e":"AQAB"}},)"
                                        R"({},{{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}},)"
                                        R"({{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}},5]}})",
                                        jwk_of(rsa_key())));
  ASSERT_TRUE(set.has_value()) << set.error();
  EXPECT_EQ(set->size(), 1u);
  EXPECT_EQ(set->skipped(), 5u);
  EXPECT_FALSE(jwk_set::parse("{}").has_value());
  EXPECT_FALSE(jwk_set::parse("not json").has_value());
}

// ---- claims

result<oauthbearer_token, std::string> check(std::string claims_json, jwt_validation_options o = options(),
                                             int64_t at_ms = now_ms) {
  return validate_jwt(token(rsa_key(), claims_json), keys_of({&rsa_key()}), o, at_ms);
}

TEST(oauthbearer, exp_is_required_and_checked_with_the_clock_skew) {
  EXPECT_NE(check(fmt::format(R"({{"sub":"a","iat":{},"aud":"kafka","iss":"https://issuer"}})", now_s)).error().find(
                "No Expiration Time (exp) claim present."),
            std::string::npos);
  const auto expired = fmt::format(R"({{"sub":"a","iat":{},"exp":{},"aud":"kafka","iss":"https://issuer"}})",
                                   now_s - 100, now_s - 31);
  auto e = check(expired);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("The JWT is no longer valid"), std::string::npos) << e.error();
  // 29 s past exp is within the default 30 s of leeway; with 0 s it is not.
  const auto just = fmt::format(R"({{"sub":"a","iat":{},"exp":{},"aud":"kafka","iss":"https://issuer"}})",
                                now_s - 100, now_s - 29);
  EXPECT_TRUE(check(just).has_value());
  auto strict = options();
  strict.clock_skew_seconds = 0;
  EXPECT_FALSE(check(just, strict).has_value());
  EXPECT_FALSE(check(fmt::format(R"({{"sub":"a","iat":{},"exp":"{}","aud":"kafka","iss":"https://issuer"}})", now_s,
                                 now_s + 100))
                   .has_value());  // a string is not a NumericDate
}

TEST(oauthbearer, iat_is_required_and_nbf_is_checked) {
  EXPECT_NE(check(fmt::format(R"({{"sub":"a","exp":{},"aud":"kafka","iss":"https://issuer"}})", now_s + 100))
                .error()
                .find("No Issued At (iat) claim present."),
            std::string::npos);
  EXPECT_FALSE(check(claims(fmt::format(R"(,"nbf":{})", now_s + 31))).has_value());
  EXPECT_TRUE(check(claims(fmt::format(R"(,"nbf":{})", now_s + 29))).has_value());
}

TEST(oauthbearer, audience_must_match_one_expected_value) {
  auto o = options();
  EXPECT_TRUE(check(claims(), o).has_value());
  auto wrong = check(R"({"sub":"a","iat":1,"exp":9999999999,"aud":"other","iss":"https://issuer"})");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().find("doesn't contain an acceptable identifier"), std::string::npos) << wrong.error();
  EXPECT_TRUE(check(R"({"sub":"a","iat":1,"exp":9999999999,"aud":["x","kafka"],"iss":"https://issuer"})").has_value());
  EXPECT_NE(check(R"({"sub":"a","iat":1,"exp":9999999999,"iss":"https://issuer"})").error().find(
                "No Audience (aud) claim present."),
            std::string::npos);
  o.expected_audience = {"a", "kafka"};
  EXPECT_TRUE(check(claims(), o).has_value());
  // Without an expected audience, jose4j refuses a token that carries one and accepts one without.
  o.expected_audience.clear();
  EXPECT_FALSE(check(claims(), o).has_value());
  EXPECT_TRUE(check(R"({"sub":"a","iat":1,"exp":9999999999,"iss":"https://issuer"})", o).has_value());
}

TEST(oauthbearer, issuer_must_equal_the_expected_one_when_set) {
  EXPECT_FALSE(check(R"({"sub":"a","iat":1,"exp":9999999999,"aud":"kafka","iss":"https://evil"})").has_value());
  EXPECT_FALSE(check(R"({"sub":"a","iat":1,"exp":9999999999,"aud":"kafka"})").has_value());
  auto o = options();
  o.expected_issuer.reset();
  EXPECT_TRUE(check(R"({"sub":"a","iat":1,"exp":9999999999,"aud":"kafka"})", o).has_value());
}

TEST(oauthbearer, the_principal_is_the_configured_sub_claim) {
  auto o = options();
  o.sub_claim_name = "client_id";
  auto t = check(claims(R"(,"client_id":"  svc-1 ")"), o);
  ASSERT_TRUE(t.has_value()) << t.error();
  EXPECT_EQ(t->principal_name, "svc-1");
  EXPECT_EQ(check(claims(), o).error(), "client_id value must be non-null");
  EXPECT_FALSE(check(claims(R"(,"client_id":"   ")"), o).has_value());
  EXPECT_FALSE(check(claims(R"(,"client_id":7)"), o).has_value());
  auto s = check(claims(R"(,"scope":["read","write"])"));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->scopes, (std::set<std::string>{"read", "write"}));
}

// ---- the mechanism

TEST(oauthbearer, server_authenticates_a_valid_token) {
  const jwk_set keys = keys_of({&rsa_key()});
  oauthbearer_server s([&](std::string_view t) { return validate_jwt(t, keys, options(), now_ms); });
  auto step = s.handle(oauthbearer_client_message(token(rsa_key(), claims())));
  EXPECT_EQ(step.what, sasl_step::state::done) << step.error;
  EXPECT_TRUE(step.response.empty());
  EXPECT_EQ(s.username(), "alice");
  EXPECT_EQ(s.credential_expiry_ms(), (now_s + 600) * 1000);
  EXPECT_EQ(s.handle(bytes("\x01")).what, sasl_step::state::failed);  // nothing after done
}

TEST(oauthbearer, a_refused_token_gets_the_invalid_token_challenge_then_fails) {
  const jwk_set keys = keys_of({&rsa_key()});
  oauthbearer_server s([&](std::string_view t) { return validate_jwt(t, keys, options(), now_ms); });
  auto first = s.handle(oauthbearer_client_message(token(other_rsa_key(), claims())));
  EXPECT_EQ(first.what, sasl_step::state::next);
  EXPECT_EQ(std::string(first.response.begin(), first.response.end()), R"({"status":"invalid_token"})");
  EXPECT_FALSE(first.error.empty());  // the reason, for the log
  auto second = s.handle(bytes("\x01"));
  EXPECT_EQ(second.what, sasl_step::state::failed);
  EXPECT_TRUE(second.error_is_public);
  EXPECT_EQ(second.error, R"({"status":"invalid_token"})");
}

TEST(oauthbearer, malformed_message_and_foreign_authzid_fail) {
  const jwk_set keys = keys_of({&rsa_key()});
  auto validate = [&](std::string_view t) { return validate_jwt(t, keys, options(), now_ms); };
  oauthbearer_server a(validate);
  auto bad = a.handle(bytes("garbage"));
  EXPECT_EQ(bad.what, sasl_step::state::failed);
  EXPECT_FALSE(bad.error_is_public);
  oauthbearer_server b(validate);
  auto other = b.handle(oauthbearer_client_message(token(rsa_key(), claims()), "bob"));
  EXPECT_EQ(other.what, sasl_step::state::failed);
  EXPECT_TRUE(other.error_is_public);
  EXPECT_EQ(other.error, "Authentication failed: Client requested an authorization id (bob) that is different from "
                         "the token's principal name (alice)");
  oauthbearer_server c(validate);
  EXPECT_EQ(c.handle(bytes("\x01")).what, sasl_step::state::failed);  // \x01 without a challenge is malformed
}

TEST(oauthbearer, hostile_tokens_never_crash) {
  const jwk_set keys = keys_of({&rsa_key(), &ec_key()});
  std::vector<std::string> hostile = {
      "", ".", "..", "a.b.c", std::string(100000, 'A') + ".." + "A",
      base64::encode_url(std::string(100000, '[')) + "." + base64::encode_url("{}"s) + ".AA",
      base64::encode_url(R"({"alg":"ES256"})"s) + "." + base64::encode_url(claims()) + ".AAAA",
      base64::encode_url(R"({"alg":"RS256"})"s) + "." + base64::encode_url(claims()) + "." + std::string(400, 'A'),
      base64::encode_url(R"({"alg":5})"s) + "." + base64::encode_url(claims()) + ".AA",
      base64::encode_url(R"({"alg":"RS256"})"s) + "." + base64::encode_url(R"({"exp":1e400})"s) + ".AA"};
  uint32_t seed = 12345;
  for (int i = 0; i < 200; ++i) {
    std::string t = token(ec_key(), claims());
    seed = seed * 1664525 + 1013904223;
    t[seed % t.size()] = char(seed >> 24);
    hostile.push_back(t);
  }
  for (const auto& t : hostile) {
    auto r = validate_jwt(t, keys, options(), now_ms);
    (void)r;
  }
  SUCCEED();
}

}  // namespace
}  // namespace gregor::security
