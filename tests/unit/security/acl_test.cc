// Proves that the ACL model decides as Kafka's StandardAuthorizer does (a table of cases from
// Kafka's documented semantics: literal, prefixed, wildcard resource/principal/host, deny wins,
// implied operations, super users, allow.everyone.if.no.acl.found both ways), that filters match as
// AclBindingFilter does, and that CreateAcls validation gives Kafka's reasons.
#include <gtest/gtest.h>

#include "gregor/security/acl.h"

namespace gregor::security {
namespace {

using rt = resource_type;
using pt = pattern_type;
using op = acl_operation;
using perm = acl_permission;

acl_binding acl(rt r, std::string name, pt p, std::string principal, std::string host, op o, perm pm) {
  return acl_binding{r, std::move(name), p, std::move(principal), std::move(host), o, pm};
}

acl_binding_filter pattern_filter(rt r, std::optional<std::string> name = std::nullopt, pt p = pt::any) {
  acl_binding_filter f;
  f.rtype = r;
  f.name = std::move(name);
  f.pattern = p;
  return f;
}

uuid id(uint64_t n) { return uuid{0, n}; }

struct authz_case {
  const char* what;
  std::vector<acl_binding> acls;
  authz_request request;
  bool allow_if_no_acl;
  bool expected;
};

TEST(acl, authorize_follows_standard_authorizer_semantics) {
  const std::string alice = "User:alice", bob = "User:bob";
  const std::string h1 = "10.0.0.1", h2 = "10.0.0.2";
  const auto read_orders = authz_request{alice, h1, op::read, rt::topic, "orders"};
  const std::vector<authz_case> cases = {
      {"no acls, default deny", {}, read_orders, false, false},
      {"no acls, allow.everyone.if.no.acl.found", {}, read_orders, true, true},
      {"literal allow", {acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::allow)}, read_orders, false, true},
      {"literal allow on another name does not apply",
       {acl(rt::topic, "orders2", pt::literal, alice, "*", op::read, perm::allow)}, read_orders, false, false},
      {"literal allow on a prefix of the name does not apply",
       {acl(rt::topic, "ord", pt::literal, alice, "*", op::read, perm::allow)}, read_orders, false, false},
      {"acl for another user: resource has acls, so no default allow",
       {acl(rt::topic, "orders", pt::literal, bob, "*", op::read, perm::allow)}, read_orders, true, false},
      {"acl on another resource: no acl found, default allow applies",
       {acl(rt::topic, "payments", pt::literal, bob, "*", op::read, perm::allow)}, read_orders, true, true},
      {"acl on the same name of another resource type does not count",
       {acl(rt::group, "orders", pt::literal, bob, "*", op::read, perm::allow)}, read_orders, true, true},
      {"wildcard resource", {acl(rt::topic, "*", pt::literal, alice, "*", op::read, perm::allow)}, read_orders, false, true},
      {"prefixed allow", {acl(rt::topic, "ord", pt::prefixed, alice, "*", op::read, perm::allow)}, read_orders, false, true},
      {"prefixed equal to the name", {acl(rt::topic, "orders", pt::prefixed, alice, "*", op::read, perm::allow)}, read_orders, false, true},
      {"prefixed longer than the name", {acl(rt::topic, "orders-eu", pt::prefixed, alice, "*", op::read, perm::allow)}, read_orders, false, false},
      {"prefixed '*' is not a wildcard", {acl(rt::topic, "*", pt::prefixed, alice, "*", op::read, perm::allow)}, read_orders, false, false},
      {"wildcard principal", {acl(rt::topic, "orders", pt::literal, "User:*", "*", op::read, perm::allow)}, read_orders, false, true},
      {"principal of another type", {acl(rt::topic, "orders", pt::literal, "Group:alice", "*", op::read, perm::allow)}, read_orders, false, false},
      {"matching host", {acl(rt::topic, "orders", pt::literal, alice, h1, op::read, perm::allow)}, read_orders, false, true},
      {"other host", {acl(rt::topic, "orders", pt::literal, alice, h2, op::read, perm::allow)}, read_orders, false, false},
      {"other operation", {acl(rt::topic, "orders", pt::literal, alice, "*", op::write, perm::allow)}, read_orders, false, false},
      {"allow ALL", {acl(rt::topic, "orders", pt::literal, alice, "*", op::all, perm::allow)}, read_orders, false, true},
      {"deny wins over allow",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::allow),
        acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::deny)}, read_orders, false, false},
      {"prefixed deny wins over literal allow",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::allow),
        acl(rt::topic, "or", pt::prefixed, alice, "*", op::read, perm::deny)}, read_orders, false, false},
      {"wildcard deny wins over literal allow",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::allow),
        acl(rt::topic, "*", pt::literal, "User:*", "*", op::read, perm::deny)}, read_orders, false, false},
      {"deny from another host does not apply",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::allow),
        acl(rt::topic, "orders", pt::literal, alice, h2, op::read, perm::deny)}, read_orders, false, true},
      {"deny ALL denies read",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::allow),
        acl(rt::topic, "orders", pt::literal, alice, "*", op::all, perm::deny)}, read_orders, false, false},
      {"deny of another operation leaves read allowed",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::allow),
        acl(rt::topic, "orders", pt::literal, alice, "*", op::write, perm::deny)}, read_orders, false, true},
      {"a deny alone: resource has acls, no default allow",
       {acl(rt::topic, "orders", pt::literal, bob, "*", op::read, perm::deny)}, read_orders, true, false},
      // Implied operations: READ, WRITE, DELETE, ALTER allow DESCRIBE; ALTER_CONFIGS allows DESCRIBE_CONFIGS.
      {"read implies describe", {acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::allow)},
       {alice, h1, op::describe, rt::topic, "orders"}, false, true},
      {"write implies describe", {acl(rt::topic, "orders", pt::literal, alice, "*", op::write, perm::allow)},
       {alice, h1, op::describe, rt::topic, "orders"}, false, true},
      {"delete implies describe", {acl(rt::topic, "orders", pt::literal, alice, "*", op::del, perm::allow)},
       {alice, h1, op::describe, rt::topic, "orders"}, false, true},
      {"alter implies describe", {acl(rt::topic, "orders", pt::literal, alice, "*", op::alter, perm::allow)},
       {alice, h1, op::describe, rt::topic, "orders"}, false, true},
      {"create does not imply describe", {acl(rt::topic, "orders", pt::literal, alice, "*", op::create, perm::allow)},
       {alice, h1, op::describe, rt::topic, "orders"}, false, false},
      {"alter_configs implies describe_configs",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::alter_configs, perm::allow)},
       {alice, h1, op::describe_configs, rt::topic, "orders"}, false, true},
      {"describe_configs does not imply alter_configs",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::describe_configs, perm::allow)},
       {alice, h1, op::alter_configs, rt::topic, "orders"}, false, false},
      {"describe does not imply read", {acl(rt::topic, "orders", pt::literal, alice, "*", op::describe, perm::allow)},
       read_orders, false, false},
      {"alter_configs does not imply describe", {acl(rt::topic, "orders", pt::literal, alice, "*", op::alter_configs, perm::allow)},
       {alice, h1, op::describe, rt::topic, "orders"}, false, false},
      {"implication is for ALLOW only: deny read does not deny describe",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::describe, perm::allow),
        acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::deny)},
       {alice, h1, op::describe, rt::topic, "orders"}, false, true},
      {"deny describe with allow read denies describe",
       {acl(rt::topic, "orders", pt::literal, alice, "*", op::read, perm::allow),
        acl(rt::topic, "orders", pt::literal, alice, "*", op::describe, perm::deny)},
       {alice, h1, op::describe, rt::topic, "orders"}, false, false},
      {"cluster resource", {acl(rt::cluster, "kafka-cluster", pt::literal, alice, "*", op::cluster_action, perm::allow)},
       {alice, h1, op::cluster_action, rt::cluster, "kafka-cluster"}, false, true},
      {"transactional id prefixed", {acl(rt::transactional_id, "app-", pt::prefixed, alice, "*", op::write, perm::allow)},
       {alice, h1, op::write, rt::transactional_id, "app-1"}, false, true},
      {"group read", {acl(rt::group, "g", pt::literal, alice, "*", op::read, perm::allow)},
       {alice, h1, op::read, rt::group, "g"}, false, true},
  };
  for (const auto& c : cases) {
    acl_set set;
    uint64_t n = 1;
    for (const auto& b : c.acls) ASSERT_TRUE(set.add(id(n++), b));
    authorizer_config config{{}, c.allow_if_no_acl};
    EXPECT_EQ(authorize(set, config, c.request), c.expected) << c.what;
  }
}

TEST(acl, super_users_are_allowed_even_against_a_deny) {
  acl_set set;
  ASSERT_TRUE(set.add(id(1), acl(rt::topic, "*", pt::literal, "User:*", "*", op::all, perm::deny)));
  authorizer_config config{{"User:admin"}, false};
  EXPECT_TRUE(authorize(set, config, {"User:admin", "1.2.3.4", op::del, rt::topic, "x"}));
  EXPECT_FALSE(authorize(set, config, {"User:alice", "1.2.3.4", op::read, rt::topic, "x"}));
  // super.users holds exact principals: "User:*" there is not a wildcard for others.
  EXPECT_FALSE(authorize(acl_set{}, authorizer_config{{"User:*"}, false}, {"User:alice", "h", op::read, rt::topic, "x"}));
}

TEST(acl, removing_an_acl_changes_the_decision) {
  acl_set set;
  ASSERT_TRUE(set.add(id(1), acl(rt::topic, "orders", pt::literal, "User:alice", "*", op::read, perm::allow)));
  ASSERT_TRUE(set.add(id(2), acl(rt::topic, "ord", pt::prefixed, "User:alice", "*", op::read, perm::deny)));
  EXPECT_FALSE(set.add(id(2), acl(rt::topic, "x", pt::literal, "User:bob", "*", op::read, perm::allow)));
  EXPECT_EQ(set.size(), 2u);
  authz_request r{"User:alice", "h", op::read, rt::topic, "orders"};
  EXPECT_FALSE(authorize(set, {}, r));
  EXPECT_TRUE(set.remove(id(2)));
  EXPECT_FALSE(set.remove(id(2)));
  EXPECT_TRUE(authorize(set, {}, r));
  EXPECT_TRUE(set.remove(id(1)));
  EXPECT_FALSE(authorize(set, {}, r));
  EXPECT_TRUE(authorize(set, {{}, true}, r));
  EXPECT_EQ(set.size(), 0u);
}

TEST(acl, set_lookup_and_iteration) {
  acl_set set;
  auto a = acl(rt::topic, "t", pt::literal, "User:a", "*", op::read, perm::allow);
  auto b = acl(rt::topic, "t", pt::prefixed, "User:a", "*", op::read, perm::allow);
  ASSERT_TRUE(set.add(id(7), a));
  ASSERT_TRUE(set.add(id(8), b));
  EXPECT_EQ(set.find_binding(a), id(7));
  EXPECT_EQ(set.find_binding(b), id(8));
  auto c = a;
  c.host = "1.1.1.1";
  EXPECT_EQ(set.find_binding(c), std::nullopt);
  ASSERT_NE(set.find(id(8)), nullptr);
  EXPECT_EQ(*set.find(id(8)), b);
  std::vector<uuid> seen;
  set.for_each([&](const uuid& i, const acl_binding&) { seen.push_back(i); });
  EXPECT_EQ(seen, (std::vector<uuid>{id(7), id(8)}));
  set.clear();
  EXPECT_EQ(set.size(), 0u);
  EXPECT_EQ(set.find_binding(a), std::nullopt);
}

TEST(acl, filters_match_as_acl_binding_filter) {
  auto lit = acl(rt::topic, "orders", pt::literal, "User:alice", "*", op::read, perm::allow);
  auto star = acl(rt::topic, "*", pt::literal, "User:alice", "*", op::read, perm::allow);
  auto pre = acl(rt::topic, "ord", pt::prefixed, "User:alice", "*", op::read, perm::allow);
  auto other = acl(rt::topic, "payments", pt::literal, "User:bob", "10.0.0.1", op::write, perm::deny);

  acl_binding_filter any;
  for (const auto& b : {lit, star, pre, other}) EXPECT_TRUE(matches(any, b));

  auto match_orders = pattern_filter(rt::topic, "orders", pt::match);
  EXPECT_TRUE(matches(match_orders, lit));
  EXPECT_TRUE(matches(match_orders, star));
  EXPECT_TRUE(matches(match_orders, pre));
  EXPECT_FALSE(matches(match_orders, other));

  auto any_pattern_named = pattern_filter(rt::any, "orders", pt::any);
  EXPECT_TRUE(matches(any_pattern_named, lit));
  EXPECT_FALSE(matches(any_pattern_named, star));  // ANY compares names exactly
  EXPECT_FALSE(matches(any_pattern_named, pre));

  auto literal_star = pattern_filter(rt::topic, "*", pt::literal);
  EXPECT_TRUE(matches(literal_star, star));
  EXPECT_FALSE(matches(literal_star, lit));

  auto prefixed_only = pattern_filter(rt::topic, std::nullopt, pt::prefixed);
  EXPECT_TRUE(matches(prefixed_only, pre));
  EXPECT_FALSE(matches(prefixed_only, lit));

  auto by_group = pattern_filter(rt::group);
  EXPECT_FALSE(matches(by_group, lit));

  acl_binding_filter entry{rt::any, std::nullopt, pt::any, "User:bob", "10.0.0.1", op::write, perm::deny};
  EXPECT_TRUE(matches(entry, other));
  EXPECT_FALSE(matches(entry, lit));
  entry.host = "*";
  EXPECT_FALSE(matches(entry, other));  // the filter's host is compared exactly
  acl_binding_filter by_op{rt::any, std::nullopt, pt::any, std::nullopt, std::nullopt, op::read};
  EXPECT_TRUE(matches(by_op, lit));
  EXPECT_FALSE(matches(by_op, other));
}

TEST(acl, create_validation_gives_kafkas_reasons) {
  auto good = acl(rt::topic, "orders", pt::literal, "User:alice", "*", op::read, perm::allow);
  EXPECT_EQ(validate_acl_binding(good), std::nullopt);
  EXPECT_EQ(validate_acl_binding(acl(rt::topic, "*", pt::prefixed, "User:alice", "*", op::read, perm::allow)), std::nullopt);
  EXPECT_EQ(validate_acl_binding(acl(rt::cluster, "kafka-cluster", pt::literal, "Group:ops", "*", op::alter, perm::allow)),
            std::nullopt);

  struct bad_case {
    acl_binding b;
    std::string reason;
  };
  const std::vector<bad_case> cases = {
      {acl(rt::cluster, "my-cluster", pt::literal, "User:a", "*", op::alter, perm::allow),
       "The only valid name for the CLUSTER resource is kafka-cluster"},
      {acl(rt::topic, "", pt::literal, "User:a", "*", op::read, perm::allow), "Invalid empty resource name"},
      {acl(rt::any, "x", pt::literal, "User:a", "*", op::read, perm::allow), "Invalid resourceType ANY"},
      {acl(rt::unknown, "x", pt::literal, "User:a", "*", op::read, perm::allow), "Invalid resourceType UNKNOWN"},
      {acl(rt::topic, "x", pt::match, "User:a", "*", op::read, perm::allow), "Invalid patternType MATCH"},
      {acl(rt::topic, "x", pt::any, "User:a", "*", op::read, perm::allow), "Invalid patternType ANY"},
      {acl(rt::topic, "x", pt::literal, "User:a", "*", op::any, perm::allow), "Invalid operation ANY"},
      {acl(rt::topic, "x", pt::literal, "User:a", "*", op::unknown, perm::allow), "Invalid operation UNKNOWN"},
      {acl(rt::topic, "x", pt::literal, "User:a", "*", op::read, perm::any), "Invalid permissionType ANY"},
      {acl(rt::topic, "x", pt::literal, "alice", "*", op::read, perm::allow),
       "Could not parse principal from `alice` (no colon is present separating the principal type from the "
       "principal name)"},
  };
  for (const auto& c : cases) EXPECT_EQ(validate_acl_binding(c.b), c.reason) << c.reason;

  EXPECT_FALSE(has_unknown_element(good));
  auto unknown_op = good;
  unknown_op.op = op::unknown;
  EXPECT_TRUE(has_unknown_element(unknown_op));
  EXPECT_FALSE(has_unknown_element(acl_binding_filter{}));
  EXPECT_TRUE(has_unknown_element(pattern_filter(rt::topic, std::nullopt, pt::unknown)));

  EXPECT_EQ(validate_acl_filter({}), std::nullopt);
  EXPECT_EQ(validate_acl_filter(pattern_filter(rt::unknown)), "Unknown patternFilter.");
  EXPECT_EQ(validate_acl_filter(pattern_filter(rt::topic, std::nullopt, pt::unknown)), "Unknown patternFilter.");
  EXPECT_EQ(validate_acl_filter({rt::topic, std::nullopt, pt::any, std::nullopt, std::nullopt, op::unknown}),
            "Unknown entryFilter.");
}

TEST(acl, wire_codes_and_names) {
  EXPECT_EQ(to_code(rt::transactional_id), 5);
  EXPECT_EQ(to_code(op::describe_tokens), 14);
  EXPECT_EQ(resource_type_from_code(7), rt::user);
  EXPECT_EQ(resource_type_from_code(8), rt::unknown);
  EXPECT_EQ(resource_type_from_code(-1), rt::unknown);
  EXPECT_EQ(pattern_type_from_code(4), pt::prefixed);
  EXPECT_EQ(pattern_type_from_code(5), pt::unknown);
  EXPECT_EQ(acl_operation_from_code(6), op::del);
  EXPECT_EQ(acl_operation_from_code(15), op::two_phase_commit);
  EXPECT_EQ(acl_operation_from_code(16), op::unknown);
  EXPECT_EQ(acl_permission_from_code(3), perm::allow);
  EXPECT_EQ(acl_permission_from_code(4), perm::unknown);
  EXPECT_EQ(to_string(op::del), "DELETE");
  EXPECT_EQ(to_string(rt::delegation_token), "DELEGATION_TOKEN");
}

TEST(acl, authorize_by_resource_type_follows_kafka) {
  const std::string alice = "User:alice";
  const auto check = [&](std::vector<acl_binding> acls, bool expected, const char* what, authorizer_config config = {}) {
    acl_set set;
    uint64_t n = 1;
    for (auto& b : acls) ASSERT_TRUE(set.add(id(n++), b));
    EXPECT_EQ(authorize_by_resource_type(set, config, alice, "h", op::write, rt::topic), expected) << what;
  };
  check({}, false, "no acls");
  check({}, true, "no acls, allow everyone", authorizer_config{{}, true});
  check({}, true, "super user", authorizer_config{{alice}, false});
  check({acl(rt::topic, "t1", pt::literal, alice, "*", op::write, perm::allow)}, true, "a literal allow");
  check({acl(rt::topic, "t1", pt::literal, alice, "*", op::read, perm::allow)}, false, "other operation");
  check({acl(rt::group, "t1", pt::literal, alice, "*", op::write, perm::allow)}, false, "other resource type");
  check({acl(rt::topic, "t1", pt::literal, "User:*", "*", op::all, perm::allow)}, true, "wildcard principal, ALL");
  check({acl(rt::topic, "t1", pt::literal, alice, "*", op::write, perm::allow),
         acl(rt::topic, "t1", pt::literal, alice, "*", op::write, perm::deny)},
        false, "literal deny of the same name");
  check({acl(rt::topic, "t1", pt::literal, alice, "*", op::write, perm::allow),
         acl(rt::topic, "t", pt::prefixed, alice, "*", op::write, perm::deny)},
        false, "prefixed deny dominating");
  check({acl(rt::topic, "t1", pt::literal, alice, "*", op::write, perm::allow),
         acl(rt::topic, "t2", pt::literal, alice, "*", op::write, perm::deny)},
        true, "a deny elsewhere");
  check({acl(rt::topic, "abc", pt::prefixed, alice, "*", op::write, perm::allow),
         acl(rt::topic, "abcd", pt::prefixed, alice, "*", op::write, perm::deny)},
        true, "a longer prefixed deny does not dominate");
  check({acl(rt::topic, "*", pt::literal, alice, "*", op::write, perm::allow)}, true, "wildcard allow");
  check({acl(rt::topic, "*", pt::literal, alice, "*", op::write, perm::allow),
         acl(rt::topic, "*", pt::literal, alice, "*", op::write, perm::deny)},
        false, "wildcard deny wins");
}

// Kafka's AclEntry.supportedOperations (kafka-server 4.3.1), as *_authorized_operations bit fields.
TEST(acl, supported_operations_are_kafkas) {
  EXPECT_EQ(supported_operations_bits(rt::topic), (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) |
                                                      (1 << 10) | (1 << 11));
  EXPECT_EQ(supported_operations_bits(rt::group), (1 << 3) | (1 << 6) | (1 << 8) | (1 << 10) | (1 << 11));
  EXPECT_EQ(supported_operations_bits(rt::cluster),
            (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12));
  EXPECT_EQ(supported_operations_bits(rt::transactional_id), (1 << 4) | (1 << 8) | (1 << 15));
  EXPECT_EQ(supported_operations_bits(rt::delegation_token), 1 << 8);
  EXPECT_EQ(supported_operations_bits(rt::user), (1 << 13) | (1 << 14));
  EXPECT_EQ(supported_operations_bits(rt::any), 0);
}

}  // namespace
}  // namespace gregor::security

namespace gregor::security {
namespace {

TEST(acl, host_addresses_print_as_java_does) {
  const std::vector<uint8_t> v4{10, 0, 0, 1};
  EXPECT_EQ(host_address_text(v4), "10.0.0.1");
  std::vector<uint8_t> loopback6(16, 0);
  loopback6[15] = 1;
  EXPECT_EQ(host_address_text(loopback6), "0:0:0:0:0:0:0:1");
  const std::vector<uint8_t> doc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x0a, 0xbc, 0xde};
  EXPECT_EQ(host_address_text(doc6), "2001:db8:0:0:0:0:a:bcde");
  const std::vector<uint8_t> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 1, 2};
  EXPECT_EQ(host_address_text(mapped), "192.168.1.2");
  EXPECT_EQ(host_address_text(std::vector<uint8_t>{1, 2, 3}), "");
}

TEST(acl, super_users_config_is_split_and_checked) {
  auto users = parse_super_users(" User:admin ;User:bob;; ");
  ASSERT_TRUE(users.has_value()) << users.error();
  EXPECT_EQ(*users, (std::set<std::string>{"User:admin", "User:bob"}));
  EXPECT_TRUE(parse_super_users("")->empty());
  auto bad = parse_super_users("User:admin;bob");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error(), "expected a string in format principalType:principalName but got bob");
}

}  // namespace
}  // namespace gregor::security
