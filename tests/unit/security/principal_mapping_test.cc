// Proves that ssl.principal.mapping.rules parse and apply as Kafka's SslPrincipalMapper does, on the
// cases of Kafka's own documentation and tests: first matching rule wins, $n groups, L/U case,
// DEFAULT, escaped '/', empty rules ignored, malformed rules refused.
#include <gtest/gtest.h>

#include "gregor/security/principal_mapping.h"

namespace gregor::security {
namespace {

principal_mapper parse_ok(std::string_view rules) {
  auto m = parse_principal_mapping_rules(rules);
  EXPECT_TRUE(m.has_value()) << rules << ": " << (m ? "" : m.error());
  return m ? *m : principal_mapper{};
}

TEST(principal_mapping, kafka_documented_rules_map_distinguished_names) {
  auto mapper = parse_ok(
      "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, "
      "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L, "
      "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U, "
      "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U, "
      "DEFAULT");
  EXPECT_EQ(mapper.rule_count(), 5u);
  EXPECT_EQ(mapper.map("CN=Duke,OU=ServiceUsers,O=Org,C=US"), "duke");
  EXPECT_EQ(mapper.map("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US"), "duke@sme");
  EXPECT_EQ(mapper.map("cn=duke,ou=sme,dc=mycp,dc=com"), "DUKE@SME");
  EXPECT_EQ(mapper.map("cN=duke,OU=JavaSoft,O=Sun Microsystems"), "DUKE");
  EXPECT_EQ(mapper.map("OU=JavaSoft,O=Sun Microsystems,C=US"), "OU=JavaSoft,O=Sun Microsystems,C=US");
}

TEST(principal_mapping, escaped_comma_in_a_common_name) {
  auto mapper = parse_ok(R"(RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT)");
  EXPECT_EQ(mapper.map(R"(CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz)"), R"(Tkac\, Adam)");
}

TEST(principal_mapping, no_matching_rule_is_nullopt_and_map_falls_back_to_the_dn) {
  auto mapper = parse_ok("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/");
  EXPECT_EQ(mapper.apply("CN=a,OU=Other"), std::nullopt);
  EXPECT_EQ(mapper.map("CN=a,OU=Other"), "CN=a,OU=Other");
  EXPECT_EQ(mapper.apply("CN=a,OU=ServiceUsers,O=x"), "a");
}

TEST(principal_mapping, default_rule_is_the_identity) {
  auto mapper = parse_ok("DEFAULT");
  EXPECT_EQ(mapper.apply("CN=x,O=y"), "CN=x,O=y");
}

TEST(principal_mapping, first_matching_rule_wins) {
  auto mapper = parse_ok("RULE:^CN=(.*)$/first-$1/, RULE:^CN=(.*)$/second-$1/, DEFAULT");
  EXPECT_EQ(mapper.map("CN=x"), "first-x");
}

TEST(principal_mapping, replacement_escapes_and_missing_groups) {
  // "\/" is a literal '/', "\$" a literal '$', and "$2" without a second group is literal text
  // (Kafka's escapeLiteralBackReferences).
  auto mapper = parse_ok(R"(RULE:^CN=([a-z]+)$/$1\/x\$$2/)");
  EXPECT_EQ(mapper.map("CN=abc"), "abc/x$$2");
  // Multi-digit references take as many digits as name a group: $12 with one group is $1 then "2".
  auto m2 = parse_ok("RULE:^CN=([a-z]+)$/$12/");
  EXPECT_EQ(m2.map("CN=abc"), "abc2");
  // Java's replaceAll replaces every match, the empty one at the end included (outputs checked
  // against the JDK with Kafka's escaping).
  EXPECT_EQ(parse_ok("RULE:(CN=)?([a-z]*)/[$2]/").map("CN=abc"), "[abc][]");
  EXPECT_EQ(parse_ok("RULE:.*/$0!/").map("abc"), "abc!!");
}

TEST(principal_mapping, rules_splitting_matches_kafka) {
  const std::vector<std::pair<std::string, size_t>> cases = {
      {"", 0},
      {"DEFAULT", 1},
      {"RULE://", 1},
      {"RULE:/.*/", 1},
      {"RULE:/.*/L", 1},
      {"RULE://,DEFAULT", 2},
      {"  RULE:// ,  DEFAULT  ", 2},
      {"  RULE:   /     / ,  DEFAULT  ", 2},
      {"  RULE:  /     /U   ,DEFAULT  ", 2},
      {"  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  ", 3},
      {",   , , ,      , , ,   ", 0},
      {",,RULE://,,,DEFAULT,,", 2},
      {",  , RULE: /   /    ,,,   DEFAULT, ,   ", 2},
      {R"(RULE:\/\\\(\)\n\t/\/\//)", 1},
      {R"(RULE:\**\/+/*/L,RULE:\/*\**/**/)", 2},
      {R"(RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT)", 5},
  };
  for (const auto& [rules, count] : cases) {
    auto m = parse_principal_mapping_rules(rules);
    ASSERT_TRUE(m.has_value()) << rules << ": " << m.error();
    EXPECT_EQ(m->rule_count(), count) << rules;
  }
  // The "rules rule" case: the third rule's replacement is "L,RULE:," with flag L.
  auto m = *parse_principal_mapping_rules(R"(RULE:^(x)$/L,RULE:,$1/L)");
  EXPECT_EQ(m.map("x"), "l,rule:,x");
}

TEST(principal_mapping, invalid_rules_are_refused) {
  for (std::string_view rules : {
           "default",
           "DEFAUL",
           "DEFAULT/L",
           "DEFAULT/U",
           "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
           "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
           "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
           "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
           "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
           "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
           "RULE:a/b/, junk",
           "RULE:(unclosed/x/",
           "RULE:a/$x/",
           "RULE:a/b\\",
       }) {
    auto m = parse_principal_mapping_rules(rules);
    EXPECT_FALSE(m.has_value()) << rules;
    if (!m) {
      EXPECT_TRUE(m.error().starts_with("Invalid rule")) << m.error();
    }
  }
  auto m = parse_principal_mapping_rules("RULE:a/b/Lxyz, DEFAULT");
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error(), "Invalid rule: `RULE:a/b/Lxyz`, unmatched substring: `xyz`");
}

// std::regex recursed once per character, so long DNs were kept from the rules; gregor::regex
// matches in linear time without recursion, and any DN is mapped, as in Kafka.
TEST(principal_mapping, long_dn_is_mapped) {
  auto mapper = parse_ok("RULE:^CN=(.*),OU=(x+)$/$2-$1/, DEFAULT");
  const std::string cn(200'000, 'a');
  EXPECT_EQ(mapper.map("CN=" + cn + ",OU=xx"), "xx-" + cn);
}

// Java's String.replaceAll: every match is replaced, an empty match one character after another.
TEST(principal_mapping, replacement_applies_to_every_match_as_replace_all) {
  EXPECT_EQ(parse_ok("RULE:.*/X/").map("abc"), "XX");
  EXPECT_EQ(parse_ok("RULE:[a-z=]*/<$0>/").map("cn=duke"), "<cn=duke><>");
  EXPECT_EQ(parse_ok("RULE:(?i)[a-z]+/z/").map("Ab"), "z");
}

}  // namespace
}  // namespace gregor::security

#include <openssl/objects.h>
#include <openssl/x509.h>

namespace gregor::security {
namespace {

struct x509_name_deleter {
  void operator()(X509_NAME* n) const { X509_NAME_free(n); }
};
using name_ptr = std::unique_ptr<X509_NAME, x509_name_deleter>;

// Builds a subject from (attribute, value, set) triples in certificate order; set -1 adds the entry
// to the previous RDN (a multi-valued RDN).
name_ptr make_name(std::initializer_list<std::tuple<const char*, std::string, int>> entries) {
  name_ptr n(X509_NAME_new());
  for (const auto& [field, value, set] : entries)
    EXPECT_EQ(X509_NAME_add_entry_by_txt(n.get(), field, MBSTRING_UTF8,
                                         reinterpret_cast<const unsigned char*>(value.data()), int(value.size()), -1,
                                         set),
              1)
        << field;
  return n;
}

TEST(principal_mapping, certificate_subject_prints_as_java_rfc2253) {
  auto duke = make_name({{"C", "US", 0}, {"O", "Org", 0}, {"OU", "ServiceUsers", 0}, {"CN", "Duke", 0}});
  EXPECT_EQ(x509_name_rfc2253(duke.get()), "CN=Duke,OU=ServiceUsers,O=Org,C=US");
  // And that string is what Kafka's documented rule maps.
  auto mapper = *parse_principal_mapping_rules("RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT");
  EXPECT_EQ(mapper.map(x509_name_rfc2253(duke.get())), "duke");

  auto dc = make_name({{"DC", "com", 0}, {"DC", "example", 0}, {"UID", "jsmith", 0}, {"street", "Main St", 0},
                       {"ST", "MD", 0}, {"L", "Fulton", 0}});
  EXPECT_EQ(x509_name_rfc2253(dc.get()), "L=Fulton,ST=MD,STREET=Main St,UID=jsmith,DC=example,DC=com");
}

TEST(principal_mapping, rfc2253_escapes_and_non_keyword_attributes) {
  auto escaped = make_name({{"CN", " Tkac, Adam=#1+<x>;\"q\"\\ ", 0}});
  EXPECT_EQ(x509_name_rfc2253(escaped.get()), R"(CN=\ Tkac\, Adam\=\#1\+\<x\>\;\"q\"\\\ )");

  // emailAddress is not an RFC 2253 keyword for Java: dotted OID and the hex of its DER value
  // (IA5String, tag 0x16).
  auto email = make_name({{"emailAddress", "a@b.c", 0}, {"CN", "x", 0}});
  EXPECT_EQ(x509_name_rfc2253(email.get()), "CN=x,1.2.840.113549.1.9.1=#16056140622e63");

  auto multi = make_name({{"O", "Org", 0}, {"CN", "a", 0}, {"UID", "7", -1}});
  EXPECT_EQ(x509_name_rfc2253(multi.get()), "CN=a+UID=7,O=Org");

  auto utf8 = make_name({{"CN", "Jos\xc3\xa9", 0}});
  EXPECT_EQ(x509_name_rfc2253(utf8.get()), "CN=Jos\xc3\xa9");

  // Attributes Java has no RFC 2253 keyword for (GN, title, serialNumber) print as OIDs; characters
  // outside PrintableString that need no escape stay as they are. (Checked against
  // javax.security.auth.x500.X500Principal.getName() on the same DER.)
  auto others = make_name({{"CN", "a_b@c*d", 0}, {"serialNumber", "123", 0}, {"title", "boss", 0}, {"GN", "g", 0}});
  EXPECT_EQ(x509_name_rfc2253(others.get()), "2.5.4.42=#0c0167,2.5.4.12=#0c04626f7373,2.5.4.5=#1303313233,CN=a_b@c*d");

  name_ptr empty(X509_NAME_new());
  EXPECT_EQ(x509_name_rfc2253(empty.get()), "");
}

}  // namespace
}  // namespace gregor::security

// fuzz_security found libstdc++'s regex compiler overflowing an int on many-digit counts and
// copying nested counts into millions of states; gregor::regex refuses both with a reason, and
// back-references (linear-time matching cannot do them), naming the rule.
TEST(principal_mapping, patterns_regex_refuses_name_the_rule_and_the_reason) {
  const std::pair<const char*, const char*> cases[] = {
      {"RULE:^CN=(.*)\\77777777777777$/$1/", "back-references are not supported"},
      {"RULE:^CN=(a{99999999999})$/$1/", "repetition count over 1000"},
      {"RULE:^CN=(a{1,99999999999})$/$1/", "repetition count over 1000"},
      {"RULE:^CN=((a{1000}){1000})$/$1/", "the pattern is too large"},
      {"RULE:^CN=(?=x)$/$1/", "lookaround is not supported"},
  };
  for (const auto& [rules, reason] : cases) {
    auto r = gregor::security::parse_principal_mapping_rules(rules);
    ASSERT_FALSE(r.has_value()) << rules;
    EXPECT_TRUE(r.error().starts_with("Invalid rule: RULE:")) << r.error();
    EXPECT_NE(r.error().find(reason), std::string::npos) << r.error();
  }
  for (const char* rules : {"RULE:^CN=((a{10}){100})$/$1/", "RULE:^CN=([a-z]{1,64}),OU=(x{2,}),O=\\{1\\}$/$1/",
                            "RULE:^CN=(a{200}b{3,60})$/$1/"}) {
    auto ok = gregor::security::parse_principal_mapping_rules(rules);
    ASSERT_TRUE(ok.has_value()) << rules << ": " << ok.error();
  }
}
