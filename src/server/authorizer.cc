#include "authorizer.h"

#include "gregor/base/log.h"

namespace gregor::server {

authorizer::authorizer(core& c) : _core(c) {
  const auto& cfg = c.config();
  _enabled = !cfg.authorizer_class_name.empty();
  if (auto su = security::parse_super_users(cfg.super_users); su) _config.super_users = *su;  // checked at start-up
  _config.allow_everyone_if_no_acl_found = cfg.allow_everyone_if_no_acl_found;
}

const security::acl_set& authorizer::acls() {
  const auto& image = _core.image();
  if (image.acl_version() != _acl_version) {
    _acls.clear();
    for (const auto& [id, a] : image.acls())
      _acls.add(id, security::acl_binding{security::resource_type_from_code(a.resource_type), a.resource_name,
                                          security::pattern_type_from_code(a.pattern_type), a.principal, a.host,
                                          security::acl_operation_from_code(a.operation),
                                          security::acl_permission_from_code(a.permission_type)});
    _acl_version = image.acl_version();
  }
  return _acls;
}

bool authorizer::allowed(const client_session& s, security::acl_operation op, security::resource_type type,
                         std::string_view name, bool log_denial) {
  if (!_enabled) return true;
  security::authz_request req{s.principal, s.host, op, type, std::string(name)};
  const bool ok = security::authorize(acls(), _config, req);
  if (!ok && log_denial)
    log::get("authorizer").info("Principal = {} is Denied operation = {} from host = {} on resource = {}:LITERAL:{}",
                                s.principal, security::to_string(op), s.host, security::to_string(type), name);
  return ok;
}

int32_t authorizer::authorized_operations(const client_session& s, security::resource_type type,
                                          std::string_view name) {
  if (!_enabled) return security::supported_operations_bits(type);
  int32_t bits = 0;
  for (security::acl_operation op : security::supported_operations(type)) {
    security::authz_request req{s.principal, s.host, op, type, std::string(name)};
    if (security::authorize(acls(), _config, req)) bits |= int32_t(1) << security::to_code(op);
  }
  return bits;
}

bool authorizer::allowed_any(const client_session& s, security::acl_operation op, security::resource_type type) {
  if (!_enabled) return true;
  return security::authorize_by_resource_type(acls(), _config, s.principal, s.host, op, type);
}

}  // namespace gregor::server
