#pragma once
// authorizer: Kafka's StandardAuthorizer for this broker's requests (authorizer.class.name =
// org.apache.kafka.metadata.authorizer.StandardAuthorizer): the ACLs of the metadata image (an
// acl_set rebuilt whenever the image's ACLs change), super.users and
// allow.everyone.if.no.acl.found, decided by security::authorize. Without an authorizer configured
// everything is allowed. Denials are logged (the authorizer log, logger "authorizer"). One per
// broker, owned by the dispatcher, used on the io thread by handlers through request_context.
#include <set>
#include <string>
#include <string_view>

#include "core.h"
#include "gregor/security/acl.h"
#include "session.h"

namespace gregor::server {

class authorizer {
 public:
  explicit authorizer(core& c);
  bool enabled() const { return _enabled; }
  // log_denial = false for checks that only filter what a principal is shown (Kafka's
  // logIfDenied = false), e.g. the topics a KIP-848 regex subscription resolves to.
  bool allowed(const client_session& s, security::acl_operation op, security::resource_type type,
               std::string_view name, bool log_denial = true);
  // Kafka's authorizeByResourceType: allowed on at least one resource of the type.
  bool allowed_any(const client_session& s, security::acl_operation op, security::resource_type type);
  // The resource's *_authorized_operations bit field (Kafka's AuthHelper.authorizedOperations):
  // the supported operations the principal may perform; denials here are not logged.
  int32_t authorized_operations(const client_session& s, security::resource_type type, std::string_view name);

 private:
  const security::acl_set& acls();

  core& _core;
  bool _enabled = false;
  security::authorizer_config _config;
  security::acl_set _acls;
  int64_t _acl_version = -1;
};

}  // namespace gregor::server
