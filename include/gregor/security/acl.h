#pragma once
// Kafka's authorizer model as pure data and pure decisions: ACL bindings (resource pattern +
// principal, host, operation, permission), the filters of DescribeAcls/DeleteAcls, CreateAcls
// validation, and the decision of Kafka's StandardAuthorizer (KRaft). The broker keeps an acl_set
// built from the metadata log (AccessControlEntryRecord / RemoveAccessControlEntryRecord) and asks
// authorize() for each resource a request touches.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/base/result.h"
#include "gregor/base/types.h"

namespace gregor::security {

// Wire codes as in Kafka's ResourceType, PatternType, AclOperation and AclPermissionType.
enum class resource_type : int8_t {
  unknown = 0, any = 1, topic = 2, group = 3, cluster = 4, transactional_id = 5, delegation_token = 6, user = 7
};
enum class pattern_type : int8_t { unknown = 0, any = 1, match = 2, literal = 3, prefixed = 4 };
enum class acl_operation : int8_t {
  unknown = 0, any = 1, all = 2, read = 3, write = 4, create = 5, del = 6, alter = 7, describe = 8,
  cluster_action = 9, describe_configs = 10, alter_configs = 11, idempotent_write = 12, create_tokens = 13,
  describe_tokens = 14, two_phase_commit = 15  // KIP-939 (Kafka 4.1+)
};
enum class acl_permission : int8_t { unknown = 0, any = 1, deny = 2, allow = 3 };

// From a wire code; codes Kafka does not know map to unknown (Kafka's fromCode).
resource_type resource_type_from_code(int8_t code);
pattern_type pattern_type_from_code(int8_t code);
acl_operation acl_operation_from_code(int8_t code);
acl_permission acl_permission_from_code(int8_t code);
inline int8_t to_code(resource_type v) { return static_cast<int8_t>(v); }
inline int8_t to_code(pattern_type v) { return static_cast<int8_t>(v); }
inline int8_t to_code(acl_operation v) { return static_cast<int8_t>(v); }
inline int8_t to_code(acl_permission v) { return static_cast<int8_t>(v); }
// Kafka's enum names (TOPIC, PREFIXED, DESCRIBE_CONFIGS, ALLOW ...), for logs and messages.
std::string_view to_string(resource_type v);
std::string_view to_string(pattern_type v);
std::string_view to_string(acl_operation v);
std::string_view to_string(acl_permission v);

// A resource name or host that matches every name or host.
inline constexpr std::string_view acl_wildcard = "*";
// The principal that matches every user.
inline constexpr std::string_view acl_wildcard_principal = "User:*";
// The only name of the cluster resource.
inline constexpr std::string_view cluster_resource_name = "kafka-cluster";

struct acl_binding {
  resource_type rtype = resource_type::unknown;
  std::string name;
  pattern_type pattern = pattern_type::unknown;
  std::string principal;  // "Type:name", e.g. "User:alice"
  std::string host;       // an IP address or "*"
  acl_operation op = acl_operation::unknown;
  acl_permission permission = acl_permission::unknown;
  auto operator<=>(const acl_binding&) const = default;
};

// Kafka's AclBindingFilter: rtype any, pattern any, op any, permission any and an empty optional
// match everything in that field. pattern match matches the bindings that would apply to a
// resource called `name`: literal `name`, literal "*", and prefixed patterns that are prefixes of
// `name` (without a name it matches every pattern type).
struct acl_binding_filter {
  resource_type rtype = resource_type::any;
  std::optional<std::string> name;
  pattern_type pattern = pattern_type::any;
  std::optional<std::string> principal;
  std::optional<std::string> host;
  acl_operation op = acl_operation::any;
  acl_permission permission = acl_permission::any;
};

bool matches(const acl_binding_filter& filter, const acl_binding& binding);

// Kafka refuses a whole CreateAcls request with an UNKNOWN resource type, pattern type, operation
// or permission while parsing it ("CreatableAcls contain unknown elements"), and likewise
// DescribeAcls/DeleteAcls filters ("... contains UNKNOWN elements"), before any per-item check.
bool has_unknown_element(const acl_binding& binding);
bool has_unknown_element(const acl_binding_filter& filter);

// CreateAcls, per binding: nullopt when the binding may be stored, otherwise the message Kafka
// returns with INVALID_REQUEST (AclApis and AclControlManager.validateNewAcl, in their order):
// "The only valid name for the CLUSTER resource is kafka-cluster", "Invalid empty resource name",
// "Invalid resourceType ANY", "Invalid patternType MATCH", "Invalid operation ANY",
// "Invalid permissionType UNKNOWN", "Could not parse principal from `alice` (no colon ...)".
std::optional<std::string> validate_acl_binding(const acl_binding& binding);
// DeleteAcls / DescribeAcls, per filter: nullopt, or INVALID_REQUEST's "Unknown patternFilter." /
// "Unknown entryFilter." (a field with the unknown code).
std::optional<std::string> validate_acl_filter(const acl_binding_filter& filter);

// The ACLs in force, keyed by the id of their AccessControlEntryRecord, indexed for authorize().
// Owned by whoever applies the metadata log (one thread); readers need their own synchronisation
// or a copy. Bindings are stored as given: validate them first.
class acl_set {
 public:
  // False (and no change) when the id is already present.
  bool add(const uuid& id, acl_binding binding);
  // False when the id is absent.
  bool remove(const uuid& id);
  const acl_binding* find(const uuid& id) const;
  // The id of a binding equal to this one (CreateAcls stores a binding only once).
  std::optional<uuid> find_binding(const acl_binding& binding) const;
  void for_each(const std::function<void(const uuid&, const acl_binding&)>& fn) const;
  size_t size() const { return _by_id.size(); }
  void clear();

  // Every binding that applies to the resource (literal same name, literal "*", prefixed
  // prefixes of the name), any principal/host/operation/permission.
  void for_each_applicable(resource_type rtype, std::string_view name,
                           const std::function<void(const acl_binding&)>& fn) const;

 private:
  using entry = std::pair<const uuid, acl_binding>;
  using index = std::map<std::string, std::vector<const entry*>, std::less<>>;
  index& index_for(const acl_binding& b);
  static size_t slot(resource_type t) { return static_cast<size_t>(static_cast<uint8_t>(t)) & 7; }

  std::map<uuid, acl_binding> _by_id;
  index _literal[8];
  index _prefixed[8];
};

// A client address as Kafka's authorizer sees it (Java's InetAddress.getHostAddress()), the text
// ACL hosts are compared with: IPv4 dotted ("10.0.0.1"); IPv6 as eight lower-case hex groups
// without leading zeros or "::" compression ("0:0:0:0:0:0:0:1"); IPv4-mapped IPv6
// (::ffff:a.b.c.d) as its IPv4 address, as Java does. `address` holds 4 or 16 network-order
// bytes; any other length gives "". The scope id of a link-local address is the caller's to add.
std::string host_address_text(std::span<const uint8_t> address);

struct authz_request {
  std::string principal;  // "User:alice"
  std::string host;       // the client's IP address as text
  acl_operation op = acl_operation::unknown;
  resource_type rtype = resource_type::unknown;
  std::string name;  // the literal resource name
};

// The principal of a connection that did not authenticate (PLAINTEXT, SSL without a client
// certificate), as Kafka's DefaultKafkaPrincipalBuilder names it.
inline constexpr std::string_view anonymous_principal = "User:ANONYMOUS";

struct authorizer_config {
  std::set<std::string> super_users;  // super.users, split at ';': {"User:admin", ...}
  bool allow_everyone_if_no_acl_found = false;
};

// `super.users`: principals separated by ';', blanks trimmed, empty items skipped; each must be
// "Type:name" (Kafka's StandardAuthorizer.getConfiguredSuperUsers). Error: Kafka's message
// "expected a string in format principalType:principalName but got <item>".
result<std::set<std::string>, std::string> parse_super_users(std::string_view value);

// Kafka's StandardAuthorizer decision:
// 1. a super user is allowed everything;
// 2. the ACLs that apply are those on the resource (literal same name, literal "*", prefixed
//    prefixes of the name) whose principal is the request's or "User:*" and whose host is the
//    request's or "*";
// 3. a DENY applies when its operation is the request's or ALL; an ALLOW applies when its
//    operation is the request's or ALL, and also when it implies the request's operation
//    (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS);
// 4. any applicable DENY → denied; else any applicable ALLOW → allowed;
// 5. else, when no ACL at all exists on the resource (whatever its principal, host or operation),
//    allow_everyone_if_no_acl_found decides; otherwise denied.
bool authorize(const acl_set& acls, const authorizer_config& config, const authz_request& request);

// Kafka's Authorizer.authorizeByResourceType: may the principal perform `op` on at least one
// resource of this type (used for IDEMPOTENT_WRITE via WRITE on any topic, and by
// DescribeTransactions-style checks)? Allowed when authorize() allows a resource named
// "hardcode" (super users, allow_everyone_if_no_acl_found), or when some ALLOW pattern for the
// principal (op or ALL) is not dominated by a DENY: a literal "*" DENY denies outright; a literal
// ALLOW is dominated by a literal DENY of the same name or a prefixed DENY of one of its
// prefixes; a prefixed ALLOW by a prefixed DENY of one of its prefixes; a literal "*" ALLOW wins.
// The operations a resource type supports (Kafka's AclEntry.supportedOperations): Topic: Read,
// Write, Create, Describe, Delete, Alter, DescribeConfigs, AlterConfigs; Group: Read, Describe,
// Delete, DescribeConfigs, AlterConfigs; Cluster: Create, ClusterAction, DescribeConfigs,
// AlterConfigs, IdempotentWrite, Alter, Describe; TransactionalId: Describe, Write, TwoPhaseCommit;
// DelegationToken: Describe; User: CreateTokens, DescribeTokens.
std::span<const acl_operation> supported_operations(resource_type rtype);
// As a *_authorized_operations bit field: bit n set for operation code n.
int32_t supported_operations_bits(resource_type rtype);

bool authorize_by_resource_type(const acl_set& acls, const authorizer_config& config, std::string_view principal,
                                std::string_view host, acl_operation op, resource_type rtype);

}  // namespace gregor::security
