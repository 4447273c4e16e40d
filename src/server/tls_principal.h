#pragma once
// The principal of a connection on an SSL listener (Kafka's DefaultKafkaPrincipalBuilder): with a
// client certificate, "User:" + the listener's ssl.principal.mapping.rules
// (`listener.name.<l>.ssl.principal.mapping.rules` over `ssl.principal.mapping.rules`, default
// DEFAULT = the subject as RFC 2253) applied to the certificate's subject; without one
// User:ANONYMOUS. SASL_SSL connections take their principal from SASL instead.
#include <map>
#include <optional>
#include <string>

#include "gregor/config/broker_config.h"
#include "gregor/net/tcp_server.h"
#include "gregor/security/principal_mapping.h"

namespace gregor::server {

class tls_principals {
 public:
  explicit tls_principals(const config::broker_config& cfg) : _cfg(cfg) {}
  // The principal, or nullopt when no rule applies to the subject (Kafka fails the
  // authentication: "No rules apply to <dn>"); `why` then says so.
  std::optional<std::string> principal_of(const net::connection_info& conn, std::string* why);

 private:
  const security::principal_mapper* mapper_for(const std::string& listener);

  const config::broker_config& _cfg;
  std::map<std::string, security::principal_mapper, std::less<>> _mappers;
};

// Start-up check: every SSL listener's ssl.principal.mapping.rules parse; "" or the error naming the key.
std::string check_principal_mapping_rules(const config::broker_config& cfg);

}  // namespace gregor::server
