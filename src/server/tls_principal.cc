#include "tls_principal.h"

#include <cctype>

#include <fmt/format.h>

namespace gregor::server {
namespace {

constexpr std::string_view rules_key = "ssl.principal.mapping.rules";

std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

result<security::principal_mapper, std::string> mapper_of(const config::broker_config& cfg, const std::string& listener) {
  const std::string text = config::listener_value(cfg, listener, rules_key).value_or("DEFAULT");
  return security::parse_principal_mapping_rules(text);
}

}  // namespace

const security::principal_mapper* tls_principals::mapper_for(const std::string& listener) {
  if (auto it = _mappers.find(listener); it != _mappers.end()) return &it->second;
  auto m = mapper_of(_cfg, listener);
  if (!m) return nullptr;  // refused at start-up (check_principal_mapping_rules)
  return &_mappers.emplace(listener, std::move(*m)).first->second;
}

std::optional<std::string> tls_principals::principal_of(const net::connection_info& conn, std::string* why) {
  if (conn.tls_peer_subject.empty()) return std::string("User:ANONYMOUS");
  const security::principal_mapper* m = mapper_for(conn.listener_name);
  std::optional<std::string> name = m ? m->apply(conn.tls_peer_subject) : std::nullopt;
  if (!name) {
    if (why) *why = fmt::format("No rules apply to {}, rules {}", conn.tls_peer_subject,
                                config::listener_value(_cfg, conn.listener_name, rules_key).value_or("DEFAULT"));
    return std::nullopt;
  }
  return "User:" + *name;
}

std::string check_principal_mapping_rules(const config::broker_config& cfg) {
  for (const auto& l : cfg.listeners) {
    if (config::security_protocol_of(cfg, l.name) != "SSL") continue;
    if (auto m = mapper_of(cfg, l.name); !m) {
      const bool prefixed = cfg.is_set(fmt::format("listener.name.{}.{}", lower(l.name), rules_key));
      return fmt::format("config '{}': {}", prefixed ? fmt::format("listener.name.{}.{}", lower(l.name), rules_key)
                                                     : std::string(rules_key),
                         m.error());
    }
  }
  return "";
}

}  // namespace gregor::server
