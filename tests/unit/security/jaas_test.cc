// Proves that Kafka's sasl.jaas.config values parse as Kafka's JaasConfig reads them (quoted and
// unquoted values, escapes, comments, several entries) and that bad input gets an error naming
// its position.
#include <gtest/gtest.h>

#include "gregor/security/jaas.h"

namespace gregor::security {
namespace {

TEST(jaas, plain_login_module_with_users) {
  auto r = parse_jaas_config(
      R"(org.apache.kafka.common.security.plain.PlainLoginModule required user_admin="admin-secret" user_alice="alice-secret" username="admin" password="admin-secret";)");
  ASSERT_TRUE(r.has_value()) << r.error();
  ASSERT_EQ(r->size(), 1u);
  const auto& e = r->front();
  EXPECT_EQ(e.login_module, plain_login_module);
  EXPECT_EQ(e.control_flag, "required");
  EXPECT_EQ(e.options.size(), 4u);
  EXPECT_EQ(e.options.at("username"), "admin");
  auto users = plain_users(e);
  EXPECT_EQ(users, (std::map<std::string, std::string>{{"admin", "admin-secret"}, {"alice", "alice-secret"}}));
}

TEST(jaas, unquoted_values_escapes_comments_and_several_entries) {
  auto r = parse_jaas_config(
      "  a.B   REQUIRED k1=v1 k2 = 'single q' k3=\"esc \\\"quoted\\\" \\\\ \\t\\101\" // comment ; here\n"
      " k4=\"a;b=c\";\n"
      "/* block\n comment */ c.D optional;");
  ASSERT_TRUE(r.has_value()) << r.error();
  ASSERT_EQ(r->size(), 2u);
  const auto& a = (*r)[0];
  EXPECT_EQ(a.login_module, "a.B");
  EXPECT_EQ(a.control_flag, "required");
  EXPECT_EQ(a.options.at("k1"), "v1");
  EXPECT_EQ(a.options.at("k2"), "single q");
  EXPECT_EQ(a.options.at("k3"), "esc \"quoted\" \\ \tA");
  EXPECT_EQ(a.options.at("k4"), "a;b=c");
  const auto& c = (*r)[1];
  EXPECT_EQ(c.login_module, "c.D");
  EXPECT_EQ(c.control_flag, "optional");
  EXPECT_TRUE(c.options.empty());
}

TEST(jaas, errors_name_the_problem_and_position) {
  struct bad_case {
    std::string text, error;
  };
  const std::vector<bad_case> cases = {
      {"", "Login module not specified in JAAS config"},
      {"   // only a comment", "Login module not specified in JAAS config"},
      {"a.B", "Login module control flag not specified in JAAS config (at offset 3)"},
      {"a.B mandatory;", "Invalid login module control flag 'mandatory' in JAAS config (at offset 4)"},
      {"a.B required k=v", "JAAS config entry not terminated by semi-colon (at offset 16)"},
      {"a.B required k=;", "Value not specified for key 'k' in JAAS config (at offset 13)"},
      {"a.B required k;", "Value not specified for key 'k' in JAAS config (at offset 13)"},
      {"a.B required k=\"unterminated;", "Unterminated quoted value in JAAS config (at offset 15)"},
      {"a.B required k=\"line\nbreak\";", "Unterminated quoted value in JAAS config (at offset 15)"},
      {"a.B required /* open", "Unterminated /* comment in JAAS config (at offset 13)"},
      {"; a.B required;", "Login module not specified in JAAS config (at offset 0)"},
      {"a.B required =v;", "Option name not specified in JAAS config (at offset 13)"},
      {"a.B required k=v; junk", "Login module control flag not specified in JAAS config (at offset 22)"},
  };
  for (const auto& c : cases) {
    auto r = parse_jaas_config(c.text);
    ASSERT_FALSE(r.has_value()) << c.text;
    EXPECT_EQ(r.error(), c.error) << c.text;
  }
}

TEST(jaas, a_property_holds_exactly_one_login_module) {
  auto one = parse_jaas_config_entry("a.B required user_x=\"y\";");
  ASSERT_TRUE(one.has_value()) << one.error();
  EXPECT_EQ(plain_users(*one).at("x"), "y");
  auto two = parse_jaas_config_entry("a.B required; c.D required;");
  ASSERT_FALSE(two.has_value());
  EXPECT_EQ(two.error(), "JAAS config property contains 2 login modules, should be 1 module");
  EXPECT_FALSE(parse_jaas_config_entry("a.B required").has_value());
}

TEST(jaas, plain_users_ignores_other_options) {
  jaas_entry e{std::string(plain_login_module), "required", {{"user_", "x"}, {"username", "u"}, {"user_bob", "pw"}}};
  EXPECT_EQ(plain_users(e), (std::map<std::string, std::string>{{"bob", "pw"}}));
}

}  // namespace
}  // namespace gregor::security
