#include "security_rules.h"

#include "gregor/security/acl.h"
#include "gregor/security/scram.h"
#include "handlers/topic_errors.h"

namespace gregor::server {

namespace {
security::acl_binding to_binding(const controller::acl_entry& a) {
  return security::acl_binding{security::resource_type_from_code(a.resource_type), a.resource_name,
                               security::pattern_type_from_code(a.pattern_type), a.principal, a.host,
                               security::acl_operation_from_code(a.operation),
                               security::acl_permission_from_code(a.permission_type)};
}
}  // namespace

std::function<bool(const controller::acl_entry&)> acl_filter_predicate(const acl_filter& f) {
  security::acl_binding_filter filter;
  filter.rtype = security::resource_type_from_code(f.resource_type);
  filter.name = f.resource_name;
  filter.pattern = security::pattern_type_from_code(f.pattern_type);
  filter.principal = f.principal;
  filter.host = f.host;
  filter.op = security::acl_operation_from_code(f.operation);
  filter.permission = security::acl_permission_from_code(f.permission_type);
  return [filter](const controller::acl_entry& a) { return security::matches(filter, to_binding(a)); };
}

std::vector<std::function<bool(const controller::acl_entry&)>> acl_filter_predicates(
    const std::vector<acl_filter>& filters) {
  std::vector<std::function<bool(const controller::acl_entry&)>> out;
  for (const auto& f : filters) out.push_back(acl_filter_predicate(f));
  return out;
}

std::vector<controller::quorum_controller::scram_change> to_scram_changes(const std::vector<scram_alteration>& changes) {
  std::vector<controller::quorum_controller::scram_change> out;
  for (const auto& c : changes) {
    controller::quorum_controller::scram_change sc;
    sc.user = c.user;
    sc.mechanism = c.mechanism;
    if (!c.remove) {
      // The handler checked the mechanism; an unknown one cannot reach here.
      const auto m = security::scram_mechanism_from_type(c.mechanism).value_or(security::scram_mechanism::sha256);
      auto cred = security::scram_credential_from_salted_password(m, c.salt, c.salted_password, c.iterations);
      sc.credential = controller::scram_credential_entry{std::move(cred.salt), std::move(cred.stored_key),
                                                         std::move(cred.server_key), cred.iterations};
    }
    out.push_back(std::move(sc));
  }
  return out;
}

std::vector<quota_outcome> to_quota_outcomes(const std::vector<controller::quorum_controller::quota_result>& results) {
  std::vector<quota_outcome> out;
  for (const auto& r : results) {
    auto& o = out.emplace_back(quota_outcome{r.entity, std::nullopt});
    if (r.error) o.error = admin_error{to_kafka(r.error->code), r.error->message};
  }
  return out;
}

}  // namespace gregor::server
