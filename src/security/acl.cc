#include "gregor/security/acl.h"

#include <algorithm>

#include <fmt/format.h>

namespace gregor::security {

resource_type resource_type_from_code(int8_t code) {
  return code >= 0 && code <= 7 ? static_cast<resource_type>(code) : resource_type::unknown;
}
pattern_type pattern_type_from_code(int8_t code) {
  return code >= 0 && code <= 4 ? static_cast<pattern_type>(code) : pattern_type::unknown;
}
acl_operation acl_operation_from_code(int8_t code) {
  return code >= 0 && code <= 15 ? static_cast<acl_operation>(code) : acl_operation::unknown;
}
acl_permission acl_permission_from_code(int8_t code) {
  return code >= 0 && code <= 3 ? static_cast<acl_permission>(code) : acl_permission::unknown;
}

std::string_view to_string(resource_type v) {
  switch (v) {
    case resource_type::unknown: return "UNKNOWN";
    case resource_type::any: return "ANY";
    case resource_type::topic: return "TOPIC";
    case resource_type::group: return "GROUP";
    case resource_type::cluster: return "CLUSTER";
    case resource_type::transactional_id: return "TRANSACTIONAL_ID";
    case resource_type::delegation_token: return "DELEGATION_TOKEN";
    case resource_type::user: return "USER";
  }
  return "UNKNOWN";
}

std::string_view to_string(pattern_type v) {
  switch (v) {
    case pattern_type::unknown: return "UNKNOWN";
    case pattern_type::any: return "ANY";
    case pattern_type::match: return "MATCH";
    case pattern_type::literal: return "LITERAL";
    case pattern_type::prefixed: return "PREFIXED";
  }
  return "UNKNOWN";
}

std::string_view to_string(acl_operation v) {
  switch (v) {
    case acl_operation::unknown: return "UNKNOWN";
    case acl_operation::any: return "ANY";
    case acl_operation::all: return "ALL";
    case acl_operation::read: return "READ";
    case acl_operation::write: return "WRITE";
    case acl_operation::create: return "CREATE";
    case acl_operation::del: return "DELETE";
    case acl_operation::alter: return "ALTER";
    case acl_operation::describe: return "DESCRIBE";
    case acl_operation::cluster_action: return "CLUSTER_ACTION";
    case acl_operation::describe_configs: return "DESCRIBE_CONFIGS";
    case acl_operation::alter_configs: return "ALTER_CONFIGS";
    case acl_operation::idempotent_write: return "IDEMPOTENT_WRITE";
    case acl_operation::create_tokens: return "CREATE_TOKENS";
    case acl_operation::describe_tokens: return "DESCRIBE_TOKENS";
    case acl_operation::two_phase_commit: return "TWO_PHASE_COMMIT";
  }
  return "UNKNOWN";
}

std::string_view to_string(acl_permission v) {
  switch (v) {
    case acl_permission::unknown: return "UNKNOWN";
    case acl_permission::any: return "ANY";
    case acl_permission::deny: return "DENY";
    case acl_permission::allow: return "ALLOW";
  }
  return "UNKNOWN";
}

bool matches(const acl_binding_filter& f, const acl_binding& b) {
  // ResourcePatternFilter.matches
  if (f.rtype != resource_type::any && f.rtype != b.rtype) return false;
  if (f.pattern != pattern_type::any && f.pattern != pattern_type::match && f.pattern != b.pattern) return false;
  if (f.name) {
    if (f.pattern == pattern_type::any || f.pattern == b.pattern) {
      if (*f.name != b.name) return false;
    } else if (b.pattern == pattern_type::literal) {
      if (*f.name != b.name && b.name != acl_wildcard) return false;
    } else if (b.pattern == pattern_type::prefixed) {
      if (!std::string_view(*f.name).starts_with(b.name)) return false;
    } else {
      return false;
    }
  }
  // AccessControlEntryFilter.matches
  if (f.principal && *f.principal != b.principal) return false;
  if (f.host && *f.host != b.host) return false;
  if (f.op != acl_operation::any && f.op != b.op) return false;
  if (f.permission != acl_permission::any && f.permission != b.permission) return false;
  return true;
}

bool has_unknown_element(const acl_binding& b) {
  return b.rtype == resource_type::unknown || b.pattern == pattern_type::unknown || b.op == acl_operation::unknown ||
         b.permission == acl_permission::unknown;
}

bool has_unknown_element(const acl_binding_filter& f) {
  return f.rtype == resource_type::unknown || f.pattern == pattern_type::unknown || f.op == acl_operation::unknown ||
         f.permission == acl_permission::unknown;
}

std::optional<std::string> validate_acl_binding(const acl_binding& b) {
  // AclApis.handleCreateAcls, on the broker.
  if (b.rtype == resource_type::cluster && b.name != cluster_resource_name)
    return fmt::format("The only valid name for the CLUSTER resource is {}", cluster_resource_name);
  if (b.name.empty()) return std::string("Invalid empty resource name");
  // AclControlManager.validateNewAcl, on the controller.
  if (b.rtype == resource_type::unknown || b.rtype == resource_type::any)
    return fmt::format("Invalid resourceType {}", to_string(b.rtype));
  if (b.pattern != pattern_type::literal && b.pattern != pattern_type::prefixed)
    return fmt::format("Invalid patternType {}", to_string(b.pattern));
  if (b.op == acl_operation::unknown || b.op == acl_operation::any)
    return fmt::format("Invalid operation {}", to_string(b.op));
  if (b.permission != acl_permission::deny && b.permission != acl_permission::allow)
    return fmt::format("Invalid permissionType {}", to_string(b.permission));
  if (b.principal.find(':') == std::string::npos)
    return fmt::format(
        "Could not parse principal from `{}` (no colon is present separating the principal type from the "
        "principal name)",
        b.principal);
  return std::nullopt;
}

std::optional<std::string> validate_acl_filter(const acl_binding_filter& f) {
  if (f.rtype == resource_type::unknown || f.pattern == pattern_type::unknown)
    return std::string("Unknown patternFilter.");
  if (f.op == acl_operation::unknown || f.permission == acl_permission::unknown)
    return std::string("Unknown entryFilter.");
  return std::nullopt;
}

acl_set::index& acl_set::index_for(const acl_binding& b) {
  return b.pattern == pattern_type::prefixed ? _prefixed[slot(b.rtype)] : _literal[slot(b.rtype)];
}

bool acl_set::add(const uuid& id, acl_binding binding) {
  auto [it, inserted] = _by_id.emplace(id, std::move(binding));
  if (!inserted) return false;
  // std::map nodes are stable: the index holds pointers into _by_id until remove().
  index_for(it->second)[it->second.name].push_back(&*it);
  return true;
}

bool acl_set::remove(const uuid& id) {
  auto it = _by_id.find(id);
  if (it == _by_id.end()) return false;
  auto& idx = index_for(it->second);
  auto bucket = idx.find(it->second.name);
  if (bucket != idx.end()) {
    std::erase(bucket->second, &*it);
    if (bucket->second.empty()) idx.erase(bucket);
  }
  _by_id.erase(it);
  return true;
}

const acl_binding* acl_set::find(const uuid& id) const {
  auto it = _by_id.find(id);
  return it == _by_id.end() ? nullptr : &it->second;
}

std::optional<uuid> acl_set::find_binding(const acl_binding& binding) const {
  const auto& idx = binding.pattern == pattern_type::prefixed ? _prefixed[slot(binding.rtype)] : _literal[slot(binding.rtype)];
  auto bucket = idx.find(binding.name);
  if (bucket == idx.end()) return std::nullopt;
  for (const entry* e : bucket->second)
    if (e->second == binding) return e->first;
  return std::nullopt;
}

void acl_set::for_each(const std::function<void(const uuid&, const acl_binding&)>& fn) const {
  for (const auto& [id, b] : _by_id) fn(id, b);
}

void acl_set::clear() {
  _by_id.clear();
  for (auto& i : _literal) i.clear();
  for (auto& i : _prefixed) i.clear();
}

void acl_set::for_each_applicable(resource_type rtype, std::string_view name,
                                  const std::function<void(const acl_binding&)>& fn) const {
  const auto& literal = _literal[slot(rtype)];
  const auto& prefixed = _prefixed[slot(rtype)];
  // Bindings of another type never share a slot: slot() is the wire code, 0..7.
  if (auto it = literal.find(name); it != literal.end())
    for (const entry* e : it->second) fn(e->second);
  if (name != acl_wildcard)
    if (auto it = literal.find(acl_wildcard); it != literal.end())
      for (const entry* e : it->second) fn(e->second);
  for (size_t len = 1; len <= name.size() && !prefixed.empty(); ++len)
    if (auto it = prefixed.find(name.substr(0, len)); it != prefixed.end())
      for (const entry* e : it->second) fn(e->second);
}

namespace {

enum class verdict { none, allow, deny };

// StandardAuthorizerData.findResult: whether one ACL on the resource applies to the request.
verdict find_result(const authz_request& r, const acl_binding& acl) {
  if (acl.principal != r.principal && acl.principal != acl_wildcard_principal) return verdict::none;
  if (acl.host != acl_wildcard && acl.host != r.host) return verdict::none;
  if (acl.op != acl_operation::all) {
    if (acl.permission == acl_permission::allow) {
      switch (r.op) {
        case acl_operation::describe:
          if (acl.op != acl_operation::describe && acl.op != acl_operation::read && acl.op != acl_operation::write &&
              acl.op != acl_operation::del && acl.op != acl_operation::alter)
            return verdict::none;
          break;
        case acl_operation::describe_configs:
          if (acl.op != acl_operation::describe_configs && acl.op != acl_operation::alter_configs) return verdict::none;
          break;
        default:
          if (acl.op != r.op) return verdict::none;
      }
    } else if (acl.op != r.op) {
      return verdict::none;
    }
  }
  if (acl.permission == acl_permission::allow) return verdict::allow;
  if (acl.permission == acl_permission::deny) return verdict::deny;
  return verdict::none;
}

}  // namespace

std::string host_address_text(std::span<const uint8_t> a) {
  if (a.size() == 16) {
    bool mapped = std::all_of(a.begin(), a.begin() + 10, [](uint8_t b) { return b == 0; }) && a[10] == 0xff &&
                  a[11] == 0xff;
    if (mapped) return host_address_text(a.subspan(12));
    std::string out;
    for (size_t i = 0; i < 16; i += 2) {
      if (i > 0) out.push_back(':');
      out += fmt::format("{:x}", (unsigned(a[i]) << 8) | a[i + 1]);
    }
    return out;
  }
  if (a.size() == 4) return fmt::format("{}.{}.{}.{}", a[0], a[1], a[2], a[3]);
  return {};
}

result<std::set<std::string>, std::string> parse_super_users(std::string_view value) {
  std::set<std::string> users;
  const auto is_space = [](char c) { return static_cast<unsigned char>(c) <= ' '; };
  while (!value.empty()) {
    size_t semi = value.find(';');
    std::string_view item = value.substr(0, semi);
    value = semi == std::string_view::npos ? std::string_view{} : value.substr(semi + 1);
    while (!item.empty() && is_space(item.front())) item.remove_prefix(1);
    while (!item.empty() && is_space(item.back())) item.remove_suffix(1);
    if (item.empty()) continue;
    if (item.find(':') == std::string_view::npos)
      return failure{fmt::format("expected a string in format principalType:principalName but got {}", item)};
    users.emplace(item);
  }
  return users;
}

bool authorize(const acl_set& acls, const authorizer_config& config, const authz_request& request) {
  if (config.super_users.contains(request.principal)) return true;
  bool any_acl_on_resource = false, allowed = false, denied = false;
  acls.for_each_applicable(request.rtype, request.name, [&](const acl_binding& acl) {
    any_acl_on_resource = true;
    switch (find_result(request, acl)) {
      case verdict::allow: allowed = true; break;
      case verdict::deny: denied = true; break;
      case verdict::none: break;
    }
  });
  if (denied) return false;
  if (allowed) return true;
  return !any_acl_on_resource && config.allow_everyone_if_no_acl_found;
}

std::span<const acl_operation> supported_operations(resource_type rtype) {
  using o = acl_operation;
  static constexpr o topic[] = {o::read, o::write, o::create, o::describe, o::del, o::alter, o::describe_configs,
                                o::alter_configs};
  static constexpr o group[] = {o::read, o::describe, o::del, o::describe_configs, o::alter_configs};
  static constexpr o cluster[] = {o::create, o::cluster_action, o::describe_configs, o::alter_configs,
                                  o::idempotent_write, o::alter, o::describe};
  static constexpr o transactional_id[] = {o::describe, o::write, o::two_phase_commit};
  static constexpr o delegation_token[] = {o::describe};
  static constexpr o user[] = {o::create_tokens, o::describe_tokens};
  switch (rtype) {
    case resource_type::topic: return topic;
    case resource_type::group: return group;
    case resource_type::cluster: return cluster;
    case resource_type::transactional_id: return transactional_id;
    case resource_type::delegation_token: return delegation_token;
    case resource_type::user: return user;
    default: return {};
  }
}

int32_t supported_operations_bits(resource_type rtype) {
  int32_t bits = 0;
  for (acl_operation op : supported_operations(rtype)) bits |= int32_t(1) << to_code(op);
  return bits;
}

bool authorize_by_resource_type(const acl_set& acls, const authorizer_config& config, std::string_view principal,
                                std::string_view host, acl_operation op, resource_type rtype) {
  authz_request probe{std::string(principal), std::string(host), op, rtype, "hardcode"};
  if (authorize(acls, config, probe)) return true;

  std::set<std::string, std::less<>> deny_literal, deny_prefixed, allow_literal, allow_prefixed;
  bool wildcard_allow = false, wildcard_deny = false;
  acls.for_each([&](const uuid&, const acl_binding& b) {
    if (b.rtype != rtype) return;
    if (b.host != host && b.host != acl_wildcard) return;
    if (b.principal != principal && b.principal != acl_wildcard_principal) return;
    if (b.op != op && b.op != acl_operation::all) return;
    bool literal = b.pattern == pattern_type::literal;
    if (b.permission == acl_permission::deny) {
      if (literal && b.name == acl_wildcard) wildcard_deny = true;
      (literal ? deny_literal : deny_prefixed).insert(b.name);
    } else if (b.permission == acl_permission::allow) {
      if (literal && b.name == acl_wildcard) wildcard_allow = true;
      else (literal ? allow_literal : allow_prefixed).insert(b.name);
    }
  });
  if (wildcard_deny) return false;
  if (wildcard_allow) return true;
  const auto dominated_by_prefix = [&](std::string_view name) {
    for (size_t len = 1; len <= name.size(); ++len)
      if (deny_prefixed.contains(name.substr(0, len))) return true;
    return false;
  };
  for (const auto& name : allow_literal)
    if (!deny_literal.contains(name) && !dominated_by_prefix(name)) return true;
  for (const auto& name : allow_prefixed)
    if (!dominated_by_prefix(name)) return true;
  return false;
}

}  // namespace gregor::security
