#include "sasl_login.h"

#include <fmt/format.h>

#include "gregor/security/jaas.h"
#include "oauthbearer_validation.h"

namespace gregor::server {

namespace {
std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}
bool is_sasl(const std::string& protocol) { return protocol == "SASL_PLAINTEXT" || protocol == "SASL_SSL"; }
}  // namespace

result<std::optional<rpc::connection_options::sasl_login>, std::string> sasl_login_for(
    const config::broker_config& cfg, const std::string& listener, const std::string& mechanism) {
  if (!is_sasl(config::security_protocol_of(cfg, listener))) return std::optional<rpc::connection_options::sasl_login>{};
  const std::string key = fmt::format("listener.name.{}.{}.sasl.jaas.config", lower(listener), lower(mechanism));
  if (mechanism != "PLAIN" && mechanism != "SCRAM-SHA-256" && mechanism != "SCRAM-SHA-512")
    return failure(fmt::format("listener '{}' is SASL but its client mechanism is '{}' (set "
                               "sasl.mechanism.inter.broker.protocol / sasl.mechanism.controller.protocol to PLAIN, "
                               "SCRAM-SHA-256 or SCRAM-SHA-512)",
                               listener, mechanism));
  auto text = config::listener_value(cfg, listener, lower(mechanism) + ".sasl.jaas.config");
  if (!text) return failure(fmt::format("config '{}' is not set: this node needs its own username and password "
                                        "to connect to listener '{}' with {}",
                                        key, listener, mechanism));
  auto entry = security::parse_jaas_config_entry(*text);
  if (!entry) return failure(fmt::format("config '{}': {}", key, entry.error()));
  auto user = entry->options.find("username");
  auto password = entry->options.find("password");
  if (user == entry->options.end() || password == entry->options.end())
    return failure(fmt::format("config '{}' has no username=\"...\" password=\"...\" for this node's own login", key));
  return std::optional<rpc::connection_options::sasl_login>(
      rpc::connection_options::sasl_login{mechanism, user->second, password->second});
}

std::string check_sasl_configs(const config::broker_config& cfg) {
  for (const auto& l : cfg.listeners) {
    if (!is_sasl(config::security_protocol_of(cfg, l.name))) continue;
    for (const auto& m : config::listener_sasl_mechanisms(cfg, l.name)) {
      if (m != "PLAIN") continue;
      const std::string key = fmt::format("listener.name.{}.plain.sasl.jaas.config", lower(l.name));
      auto text = config::listener_value(cfg, l.name, "plain.sasl.jaas.config");
      if (!text) return fmt::format("config '{}' is not set (PLAIN is enabled on listener '{}')", key, l.name);
      auto entry = security::parse_jaas_config_entry(*text);
      if (!entry) return fmt::format("config '{}': {}", key, entry.error());
      if (entry->login_module != "org.apache.kafka.common.security.plain.PlainLoginModule")
        return fmt::format("config '{}': login module '{}' is not org.apache.kafka.common.security.plain.PlainLoginModule",
                           key, entry->login_module);
    }
  }
  if (std::string why = check_oauthbearer_configs(cfg); !why.empty()) return why;
  if (cfg.is_broker()) {
    const std::string inter = cfg.inter_broker_listener();
    if (auto r = sasl_login_for(cfg, inter, cfg.sasl_mechanism_inter_broker_protocol); !r) return r.error();
  }
  for (const auto& name : cfg.controller_listener_names)
    if (auto r = sasl_login_for(cfg, name, cfg.sasl_mechanism_controller_protocol); !r) return r.error();
  return "";
}

}  // namespace gregor::server
