#pragma once
// `ssl.principal.mapping.rules` (KIP-371): how the distinguished name of a client certificate
// becomes the name of its principal (User:<name>). A comma-separated list, tried in order:
//   RULE:<pattern>/<replacement>/[L|U]   pattern: a Java regex that must match the whole DN;
//                                        replacement: $1.. groups, \x escapes; L/U: lower/upper case
//   DEFAULT                              the DN itself
// '/' inside a pattern or replacement is written "\/". The default value is "DEFAULT".
#include <openssl/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "gregor/base/result.h"

namespace gregor::security {

class principal_mapper {
 public:
  // Kafka's SslPrincipalMapper.getName: the result of the first rule that matches, nullopt when
  // none does (Kafka then fails the authentication: "No rules apply to <dn>").
  std::optional<std::string> apply(std::string_view distinguished_name) const;
  // apply(), or the DN itself when no rule matches.
  std::string map(std::string_view distinguished_name) const;
  size_t rule_count() const;

  struct rules;

 private:
  std::shared_ptr<const rules> _rules;
  friend result<principal_mapper, std::string> parse_principal_mapping_rules(std::string_view text);
};

// The subject of a client certificate as Java's X500Principal.getName() prints it (RFC 2253), the
// string Kafka hands to the mapping rules: RDNs last-to-first, ',' between RDNs and '+' inside a
// multi-valued one, no spaces; CN, C, L, ST, O, OU, STREET, DC and UID by keyword, every other
// attribute as its dotted OID with "#" + the hex of its DER value (emailAddress becomes
// "1.2.840.113549.1.9.1=#16..."); in values , = + < > # ; " \ are escaped with '\', NUL as \00,
// leading and trailing spaces with '\'. Example: /C=US/O=Org/OU=ServiceUsers/CN=Duke →
// "CN=Duke,OU=ServiceUsers,O=Org,C=US".
std::string x509_name_rfc2253(const X509_NAME* name);

// Errors name the rule: "Invalid rule: `RULE:a/b`" or "Invalid rule: `...`, unmatched substring:
// `...`" (Kafka's wording), or why gregor::regex refuses a pattern (RE2 syntax, linear-time
// matching: Java-only constructs such as back-references and lookaround are refused).
result<principal_mapper, std::string> parse_principal_mapping_rules(std::string_view text);

}  // namespace gregor::security
