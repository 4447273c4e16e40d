// Proves the broker's OAUTHBEARER set-up checks (Kafka's config names in every error) and that a
// token is validated against the JWKS file as it is at each authentication.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "gregor/config/broker_config.h"
#include "../../../src/server/oauthbearer_validation.h"

namespace gregor::server {
namespace {

namespace fs = std::filesystem;

TEST(oauthbearer_validation, jwks_urls_are_file_urls_with_absolute_paths) {
  EXPECT_EQ(jwks_file_of_url("file:///etc/k.json", "k").value(), fs::path("/etc/k.json"));
  EXPECT_EQ(jwks_file_of_url("file:/etc/k.json", "k").value(), fs::path("/etc/k.json"));
  EXPECT_EQ(jwks_file_of_url("file://localhost/etc/k.json", "k").value(), fs::path("/etc/k.json"));
  auto https = jwks_file_of_url("https://idp/jwks", "sasl.oauthbearer.jwks.endpoint.url");
  ASSERT_FALSE(https.has_value());
  EXPECT_NE(https.error().find("'sasl.oauthbearer.jwks.endpoint.url'"), std::string::npos);
  EXPECT_NE(https.error().find("an https URL"), std::string::npos);
  EXPECT_FALSE(jwks_file_of_url("file://otherhost/k.json", "k").has_value());
  EXPECT_FALSE(jwks_file_of_url("file:k.json", "k").has_value());
  EXPECT_FALSE(jwks_file_of_url("/etc/k.json", "k").has_value());
}

class oauthbearer_setup : public ::testing::Test {
 protected:
  void SetUp() override {
    _dir = fs::temp_directory_path() / ("gregor-oauth-" + std::to_string(::getpid()));
    fs::create_directories(_dir);
  }
  void TearDown() override { fs::remove_all(_dir); }

  config::broker_config load(std::vector<std::pair<std::string, std::string>> more) {
    std::vector<std::pair<std::string, std::string>> sets = {
        {"listeners", "SASL_PLAINTEXT://:9093"},
        {"listener.security.protocol.map", "SASL_PLAINTEXT:SASL_PLAINTEXT"},
        {"sasl.enabled.mechanisms", "OAUTHBEARER"},
        {"listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class",
         std::string(oauthbearer_validator_class)},
        {"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
         std::string(oauthbearer_login_module) + " required ;"}};
    sets.insert(sets.end(), more.begin(), more.end());
    auto b = config::load_yaml("", "test", sets);
    EXPECT_TRUE(b.has_value()) << b.error();
    return *b;
  }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(_dir / name) << text;
    return "file://" + (_dir / name).string();
  }

  fs::path _dir;
};

TEST_F(oauthbearer_setup, start_up_needs_a_readable_jwks_with_a_usable_key) {
  EXPECT_NE(check_oauthbearer_configs(load({})).find("sasl.oauthbearer.jwks.endpoint.url"), std::string::npos);
  const std::string missing = "file://" + (_dir / "none.json").string();
  EXPECT_NE(check_oauthbearer_configs(load({{"sasl.oauthbearer.jwks.endpoint.url", missing}})).find("doesn't exist"),
            std::string::npos);
  const std::string garbage = write("garbage.json", "not json");
  EXPECT_NE(check_oauthbearer_configs(load({{"listener.name.sasl_plaintext.sasl.oauthbearer.jwks.endpoint.url", garbage}}))
                .find("'listener.name.sasl_plaintext.sasl.oauthbearer.jwks.endpoint.url'"),
            std::string::npos);
  const std::string empty = write("empty.json", R"({"keys":[{"kty":"oct","k":"AAAA"}]})");
  EXPECT_NE(check_oauthbearer_configs(load({{"sasl.oauthbearer.jwks.endpoint.url", empty}})).find("no usable"),
            std::string::npos);
  // An http(s) endpoint is fetched when the broker starts; the check looks at what it can offline.
  EXPECT_EQ(check_oauthbearer_configs(load({{"sasl.oauthbearer.jwks.endpoint.url", "https://idp/jwks"}})), "");
  EXPECT_NE(check_oauthbearer_configs(load({{"sasl.oauthbearer.jwks.endpoint.url", "https://idp:99999/jwks"}}))
                .find("'sasl.oauthbearer.jwks.endpoint.url': 'https://idp:99999/jwks': bad port"),
            std::string::npos);
  EXPECT_NE(check_oauthbearer_configs(load({{"sasl.oauthbearer.jwks.endpoint.url", "https://idp/jwks"},
                                            {"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
                                             std::string(oauthbearer_login_module) +
                                                 " required ssl.truststore.location=\"/nonexistent/ca.pem\" ;"}}))
                .find("/nonexistent/ca.pem"),
            std::string::npos);
  EXPECT_NE(check_oauthbearer_configs(load({{"sasl.oauthbearer.jwks.endpoint.url", "https://idp/jwks"},
                                            {"sasl.oauthbearer.jwks.endpoint.refresh.ms", "soon"}}))
                .find("'sasl.oauthbearer.jwks.endpoint.refresh.ms' = 'soon'"),
            std::string::npos);
  // The JAAS entry must name the OAUTHBEARER login module.
  const std::string ec_jwks = write(
      "ec.json", R"({"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                 R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})");
  EXPECT_EQ(check_oauthbearer_configs(load({{"sasl.oauthbearer.jwks.endpoint.url", ec_jwks}})), "");
  EXPECT_NE(check_oauthbearer_configs(
                load({{"sasl.oauthbearer.jwks.endpoint.url", ec_jwks},
                      {"listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config",
                       "org.apache.kafka.common.security.plain.PlainLoginModule required ;"}}))
                .find("is not org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"),
            std::string::npos);
}

TEST_F(oauthbearer_setup, listener_settings_become_the_validation_options) {
  auto o = oauthbearer_options_of(load({{"sasl.oauthbearer.expected.audience", " a , b "},
                                        {"listener.name.sasl_plaintext.sasl.oauthbearer.expected.issuer", "https://i"},
                                        {"sasl.oauthbearer.sub.claim.name", "client_id"},
                                        {"sasl.oauthbearer.clock.skew.seconds", "7"}}),
                                  "SASL_PLAINTEXT");
  EXPECT_EQ(o.expected_audience, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(o.expected_issuer, "https://i");
  EXPECT_EQ(o.sub_claim_name, "client_id");
  EXPECT_EQ(o.clock_skew_seconds, 7);
  auto d = oauthbearer_options_of(load({}), "SASL_PLAINTEXT");
  EXPECT_TRUE(d.expected_audience.empty());
  EXPECT_FALSE(d.expected_issuer.has_value());
  EXPECT_EQ(d.sub_claim_name, "sub");
  EXPECT_EQ(d.clock_skew_seconds, 30);
}

TEST_F(oauthbearer_setup, a_broken_jwks_file_refuses_tokens_with_the_reason) {
  const std::string url = write("jwks.json", "{");
  auto r = validate_oauthbearer_token(load({{"sasl.oauthbearer.jwks.endpoint.url", url}}), "SASL_PLAINTEXT", "a.b.c", 0);
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().find("JWKS"), std::string::npos) << r.error();
}

}  // namespace
}  // namespace gregor::server
