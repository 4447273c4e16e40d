// Proves that SASL/PLAIN messages are split and refused as Kafka's PlainSaslServer does, and that
// authentication checks the password before the authorization id.
#include <memory>

#include <gtest/gtest.h>

#include "gregor/security/plain.h"

namespace gregor::security {
namespace {

std::vector<uint8_t> msg(std::string_view s) { return {s.begin(), s.end()}; }
using namespace std::string_literals;

TEST(plain, parses_authzid_username_password) {
  auto c = parse_plain_message(msg("\0alice\0alice-secret"s));
  ASSERT_TRUE(c.has_value()) << c.error();
  EXPECT_EQ(c->authzid, "");
  EXPECT_EQ(c->username, "alice");
  EXPECT_EQ(c->password, "alice-secret");
  auto d = parse_plain_message(msg("alice\0alice\0pw"s));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->authzid, "alice");
}

TEST(plain, password_keeps_further_nuls_as_kafka_does) {
  auto c = parse_plain_message(msg("\0alice\0pw\0more"s));
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->password, "pw\0more"s);
}

TEST(plain, refuses_what_kafka_refuses) {
  EXPECT_EQ(parse_plain_message(msg("")).error(), "Authentication failed: username not specified");
  EXPECT_EQ(parse_plain_message(msg("alice")).error(), "Authentication failed: username not specified");
  EXPECT_EQ(parse_plain_message(msg("\0\0pw"s)).error(), "Authentication failed: username not specified");
  EXPECT_EQ(parse_plain_message(msg("\0alice"s)).error(), "Authentication failed: password not specified");
  EXPECT_EQ(parse_plain_message(msg("\0alice\0"s)).error(), "Authentication failed: password not specified");
  EXPECT_EQ(parse_plain_message(msg("admin\0alice\0pw"s)).error(),
            "Authentication failed: Client requested an authorization id that is different from username");
}

TEST(plain, authenticate_against_jaas_users) {
  std::map<std::string, std::string> users{{"admin", "admin-secret"}, {"alice", "alice-secret"}};
  auto ok = authenticate_plain(msg("\0alice\0alice-secret"s), users);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, "alice");

  auto wrong = authenticate_plain(msg("\0alice\0admin-secret"s), users);
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().message, "Authentication failed: Invalid username or password");
  EXPECT_TRUE(wrong.error().is_public);

  auto unknown = authenticate_plain(msg("\0bob\0x"s), users);
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().message, "Authentication failed: Invalid username or password");

  auto prefix = authenticate_plain(msg("\0alice\0alice-secre"s), users);
  EXPECT_FALSE(prefix.has_value());

  // The password is checked before the authzid, as Kafka does.
  auto bad_both = authenticate_plain(msg("admin\0alice\0nope"s), users);
  EXPECT_EQ(bad_both.error().message, "Authentication failed: Invalid username or password");
  auto bad_authzid = authenticate_plain(msg("admin\0alice\0alice-secret"s), users);
  EXPECT_EQ(bad_authzid.error().message,
            "Authentication failed: Client requested an authorization id that is different from username");
  EXPECT_TRUE(bad_authzid.error().is_public);

  auto empty = authenticate_plain(msg("\0\0x"s), users);
  EXPECT_FALSE(empty.error().is_public);
}

TEST(plain, client_message_round_trips) {
  std::map<std::string, std::string> users{{"alice", "alice-secret"}};
  auto ok = authenticate_plain(plain_client_message("alice", "alice-secret"), users);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(*ok, "alice");
  EXPECT_EQ(plain_client_message("u", "p", "z"), msg("z\0u\0p"s));
}

TEST(plain, server_interface_completes_once) {
  std::unique_ptr<sasl_server> server = std::make_unique<plain_server>(std::map<std::string, std::string>{{"alice", "pw"}});
  EXPECT_EQ(server->mechanism_name(), "PLAIN");
  auto step = server->handle(plain_client_message("alice", "pw"));
  EXPECT_EQ(step.what, sasl_step::state::done) << step.error;
  EXPECT_TRUE(step.response.empty());
  EXPECT_EQ(server->username(), "alice");
  EXPECT_EQ(server->handle(plain_client_message("alice", "pw")).what, sasl_step::state::failed);

  plain_server wrong(std::map<std::string, std::string>{{"alice", "pw"}});
  auto bad = wrong.handle(plain_client_message("alice", "nope"));
  EXPECT_EQ(bad.what, sasl_step::state::failed);
  EXPECT_TRUE(bad.error_is_public);
  EXPECT_EQ(bad.error, "Authentication failed: Invalid username or password");
}

}  // namespace
}  // namespace gregor::security
