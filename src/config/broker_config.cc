// Loading broker_config: YAML (dotted or nested keys) flattened to Kafka names, then --set
// overrides, then each key parsed through the broker key table, then cross-key defaults
// (advertised.listeners) and consistency checks.
#include "gregor/config/broker_config.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "broker_keys.h"
#include "parse.h"

namespace gregor::config {
namespace {

constexpr std::string_view k_embedded_default = R"(# Gregor's embedded default: a one-node cluster on :9092 with data in ./data.
node.id: 1
process.roles: broker,controller
listeners: PLAINTEXT://0.0.0.0:9092
log.dirs: ./data
)";

using flat_map = std::map<std::string, std::string>;

// Flattens `node` into dotted keys. Sequences become comma-joined lists. Returns "" or the error.
std::string flatten(const YAML::Node& node, const std::string& prefix, flat_map& out, std::string_view origin) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      if (!kv.first.IsScalar())
        return fmt::format("{}: a key under '{}' is not a plain name", origin, prefix);
      std::string key = kv.first.Scalar();
      std::string full = prefix.empty() ? key : prefix + "." + key;
      std::string err = flatten(kv.second, full, out, origin);
      if (!err.empty()) return err;
    }
    return "";
  }
  std::string value;
  if (node.IsSequence()) {
    std::vector<std::string> items;
    for (const auto& item : node) {
      if (!item.IsScalar())
        return fmt::format("config '{}' in {}: list items must be plain values", prefix, origin);
      items.push_back(item.Scalar());
    }
    value = detail::join_list(items);
  } else if (node.IsScalar()) {
    value = node.Scalar();
  }  // null → ""
  if (prefix.empty()) return fmt::format("{}: expected a map of config names to values", origin);
  if (out.count(prefix)) return fmt::format("config '{}' is given twice in {}", prefix, origin);
  out[prefix] = value;
  return "";
}

std::string suggestion(std::string_view name) {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const auto& k : detail::broker_keys()) out.push_back(k.name);
    return out;
  }();
  std::string best = detail::closest_name(name, names);
  return best.empty() ? "" : fmt::format(" (did you mean '{}'?)", best);
}

bool is_any_host(const std::string& host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

bool contains(const std::vector<std::string>& v, std::string_view x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Kafka's KRaft rules for process.roles, the quorum and the listeners (KafkaConfig's validation).
// A SASL listener serves only the mechanisms Gregor implements, and PLAIN needs its users.
std::string check_sasl_listener(const broker_config& b, const std::string& listener_name) {
  const auto mechanisms = listener_sasl_mechanisms(b, listener_name);
  const std::string lname = detail::lower(listener_name);
  const bool prefixed = b.is_set(fmt::format("listener.name.{}.sasl.enabled.mechanisms", lname));
  const std::string key = prefixed ? fmt::format("listener.name.{}.sasl.enabled.mechanisms", lname)
                                   : std::string("sasl.enabled.mechanisms");
  if (mechanisms.empty())
    return fmt::format("SASL listener '{}' has no mechanism: set '{}'", listener_name, key);
  for (const auto& m : mechanisms) {
    if (m != "PLAIN" && m != "SCRAM-SHA-256" && m != "SCRAM-SHA-512" && m != "OAUTHBEARER")
      return fmt::format("config '{}' of SASL listener '{}': mechanism '{}' is not supported (Gregor serves PLAIN, "
                         "SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER)",
                         key, listener_name, m);
    if (m == "OAUTHBEARER" &&
        !b.is_set(fmt::format("listener.name.{}.oauthbearer.sasl.server.callback.handler.class", lname)))
      return fmt::format("SASL listener '{}' enables OAUTHBEARER but 'listener.name.{}.oauthbearer.sasl.server.callback."
                         "handler.class' is not set: Gregor validates tokens with "
                         "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler (JWT "
                         "signatures checked against sasl.oauthbearer.jwks.endpoint.url); Kafka's default, the "
                         "unsecured validator that accepts unsigned tokens, is not supported",
                         listener_name, lname);
    if (m == "PLAIN" && !b.is_set(fmt::format("listener.name.{}.plain.sasl.jaas.config", lname)))
      return fmt::format("SASL listener '{}' enables PLAIN but 'listener.name.{}.plain.sasl.jaas.config' is not set "
                         "(org.apache.kafka.common.security.plain.PlainLoginModule required user_<name>=\"<password>\" ...;)",
                         listener_name, lname);
  }
  return "";
}

// The name a listener's ssl.* key is set under (listener-prefixed when that form is set).
std::string ssl_key_name(const broker_config& b, const std::string& listener_name, std::string_view key) {
  const std::string prefixed = fmt::format("listener.name.{}.{}", detail::lower(listener_name), key);
  return b.is_set(prefixed) ? prefixed : std::string(key);
}

// An SSL listener needs a key store Gregor can read (the files themselves are read by net when the
// server starts, which names the file on error).
std::string check_ssl_listener(const broker_config& b, const std::string& listener_name) {
  const auto location = listener_value(b, listener_name, "ssl.keystore.location");
  const auto inline_key = listener_value(b, listener_name, "ssl.keystore.key");
  const auto inline_chain = listener_value(b, listener_name, "ssl.keystore.certificate.chain");
  const bool has_location = location && !detail::trim(*location).empty();
  const bool has_inline = inline_key && !detail::trim(*inline_key).empty();
  if (!has_location && !has_inline)
    return fmt::format("SSL listener '{}' has no key store: set '{}' (or 'listener.name.{}.ssl.keystore.location'), "
                       "or ssl.keystore.key with ssl.keystore.certificate.chain",
                       listener_name, ssl_key_name(b, listener_name, "ssl.keystore.location"), detail::lower(listener_name));
  if (has_inline && !(inline_chain && !detail::trim(*inline_chain).empty()))
    return fmt::format("SSL listener '{}': '{}' is set but '{}' is not", listener_name,
                       ssl_key_name(b, listener_name, "ssl.keystore.key"),
                       ssl_key_name(b, listener_name, "ssl.keystore.certificate.chain"));
  for (const char* key : {"ssl.keystore.type", "ssl.truststore.type"}) {
    auto type = listener_value(b, listener_name, key);
    if (type && detail::trim(*type) == "JKS")
      return fmt::format("config '{}' of SSL listener '{}': JKS is not supported; convert the store with keytool "
                         "-importkeystore -deststoretype PKCS12 and set PKCS12 (or use PEM)",
                         ssl_key_name(b, listener_name, key), listener_name);
  }
  return "";
}

std::string check_cluster(broker_config& b) {
  if (b.process_roles.empty()) return "config 'process.roles' is empty: expected broker, controller or broker,controller";
  for (const auto& r : b.process_roles)
    if (r != "broker" && r != "controller")
      return fmt::format("config 'process.roles' = '{}': unknown role '{}' (expected broker and/or controller)",
                         detail::join_list(b.process_roles), r);
  if (b.process_roles.size() == 2 && b.process_roles[0] == b.process_roles[1])
    return fmt::format("config 'process.roles' = '{}' names a role twice", detail::join_list(b.process_roles));
  b.quorum_voters.clear();
  for (const auto& text : b.controller_quorum_voters) {
    quorum_voter v;
    if (auto why = parse_quorum_voter(text, v); !why.empty())
      return fmt::format("config 'controller.quorum.voters' = '{}': {}", detail::join_list(b.controller_quorum_voters), why);
    for (const auto& prev : b.quorum_voters)
      if (prev.id == v.id)
        return fmt::format("config 'controller.quorum.voters': voter id {} appears twice", v.id.value());
    b.quorum_voters.push_back(std::move(v));
  }
  if (!b.quorum_voters.empty() && !b.controller_quorum_bootstrap_servers.empty())
    return "configs 'controller.quorum.voters' and 'controller.quorum.bootstrap.servers' are both set: set one";
  const bool distributed = !b.quorum_voters.empty() || !b.controller_quorum_bootstrap_servers.empty();
  if (!b.is_controller() && !distributed)
    return "a node with process.roles=broker needs 'controller.quorum.voters' or 'controller.quorum.bootstrap.servers'";
  if (b.is_controller() && !b.quorum_voters.empty() &&
      std::none_of(b.quorum_voters.begin(), b.quorum_voters.end(), [&](const quorum_voter& v) { return v.id == b.node_id; }))
    return fmt::format("config 'controller.quorum.voters' must contain node.id {} on a node with the controller role",
                       b.node_id.value());
  if (distributed && b.controller_listener_names.empty())
    return "config 'controller.listener.names' is empty: a node of a multi-node quorum needs the name of the controller listener";
  for (const auto& name : b.controller_listener_names) {
    const bool listed = std::any_of(b.listeners.begin(), b.listeners.end(), [&](const listener& l) { return l.name == name; });
    if (!b.is_controller() && listed)
      return fmt::format("config 'controller.listener.names' names '{}', which must not be in 'listeners' on a node with "
                         "process.roles=broker",
                         name);
  }
  if (b.is_controller() && distributed &&
      std::none_of(b.listeners.begin(), b.listeners.end(),
                   [&](const listener& l) { return contains(b.controller_listener_names, l.name); }))
    return fmt::format("config 'listeners' has no listener named in 'controller.listener.names' ({}), which the "
                       "controller role needs",
                       detail::join_list(b.controller_listener_names));
  if (b.is_broker()) {
    if (!b.inter_broker_listener_name.empty() &&
        std::none_of(b.listeners.begin(), b.listeners.end(), [&](const listener& l) { return l.name == b.inter_broker_listener_name; }))
      return fmt::format("config 'inter.broker.listener.name' = '{}' is not a listener name in 'listeners'",
                         b.inter_broker_listener_name);
    if (contains(b.controller_listener_names, b.inter_broker_listener_name))
      return fmt::format("config 'inter.broker.listener.name' = '{}' is a controller listener", b.inter_broker_listener_name);
    if (std::all_of(b.listeners.begin(), b.listeners.end(),
                    [&](const listener& l) { return contains(b.controller_listener_names, l.name); }))
      return "config 'listeners' has no broker listener (every listener is a controller listener)";
    for (const auto& a : b.advertised_listeners)
      if (contains(b.controller_listener_names, a.name))
        return fmt::format("config 'advertised.listeners' must not contain the controller listener '{}'", a.name);
  }
  // listener.security.protocol.map: every listener's protocol is known; only PLAINTEXT is served yet.
  std::map<std::string, std::string> protocols;
  for (const auto& item : detail::split_list(b.listener_security_protocol_map)) {
    auto colon = item.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size())
      return fmt::format("config 'listener.security.protocol.map': '{}' is not NAME:PROTOCOL", item);
    protocols[item.substr(0, colon)] = item.substr(colon + 1);
  }
  // Without a map every listener is PLAINTEXT (Gregor's behaviour before the map was read; Kafka
  // would require the map for names that are not protocols).
  if (protocols.empty()) return "";
  for (const auto& [name, proto] : protocols)
    if (proto != "PLAINTEXT" && proto != "SSL" && proto != "SASL_PLAINTEXT" && proto != "SASL_SSL")
      return fmt::format("config 'listener.security.protocol.map': '{}' is not a security protocol (PLAINTEXT, SSL, "
                         "SASL_PLAINTEXT or SASL_SSL)",
                         proto);
  for (const auto& l : b.listeners) {
    auto it = protocols.find(l.name);
    const std::string proto = it != protocols.end() ? it->second : l.name;
    if (proto == "PLAINTEXT") continue;
    if (proto == "SSL" || proto == "SASL_SSL") {
      std::string err = check_ssl_listener(b, l.name);
      if (err.empty() && proto == "SASL_SSL") err = check_sasl_listener(b, l.name);
      if (!err.empty()) return err;
      continue;
    }
    if (proto == "SASL_PLAINTEXT") {
      std::string err = check_sasl_listener(b, l.name);
      if (!err.empty()) return err;
      continue;
    }
    return fmt::format("listener '{}' has no security protocol: add {}:PLAINTEXT to 'listener.security.protocol.map'",
                       l.name, l.name);
  }
  return "";
}

// Cross-key rules applied after every key is parsed.
std::string finish(broker_config& b) {
  if (!b.authorizer_class_name.empty() &&
      b.authorizer_class_name != "org.apache.kafka.metadata.authorizer.StandardAuthorizer")
    return fmt::format("config 'authorizer.class.name' = '{}': Gregor's built-in authorizer is selected with "
                       "org.apache.kafka.metadata.authorizer.StandardAuthorizer (or leave it empty for none)",
                       b.authorizer_class_name);
  if (b.is_set("broker.id") && b.is_set("node.id")) {
    int64_t a = 0, c = 0;
    detail::parse_int64(b.explicit_values.at("broker.id"), a);
    detail::parse_int64(b.explicit_values.at("node.id"), c);
    if (a != c)
      return fmt::format("config 'broker.id' = '{}' and 'node.id' = '{}' disagree: set only node.id",
                         b.explicit_values.at("broker.id"), b.explicit_values.at("node.id"));
  }
  if (!b.is_set("advertised.listeners")) {
    b.advertised_listeners.clear();
    for (const auto& l : b.listeners) {
      if (std::find(b.controller_listener_names.begin(), b.controller_listener_names.end(), l.name) !=
          b.controller_listener_names.end())
        continue;
      listener a = l;
      if (is_any_host(a.host)) a.host = "localhost";
      b.advertised_listeners.push_back(std::move(a));
    }
  } else {
    for (const auto& a : b.advertised_listeners) {
      bool found = std::any_of(b.listeners.begin(), b.listeners.end(), [&](const listener& l) { return l.name == a.name; });
      if (!found)
        return fmt::format("config 'advertised.listeners' names listener '{}', which is not in 'listeners'", a.name);
      if (is_any_host(a.host))
        return fmt::format("config 'advertised.listeners': listener '{}' must name a host clients can reach, not '{}'",
                           a.name, a.host);
    }
  }
  if (auto why = check_cluster(b); !why.empty()) return why;
  // Kafka's rule: the request-memory pool must hold at least one largest request.
  if (b.queued_max_request_bytes > 0 && b.queued_max_request_bytes < b.socket_request_max_bytes)
    return fmt::format("config 'queued.max.request.bytes' = {} must be larger or equal to 'socket.request.max.bytes' = {}",
                       b.queued_max_request_bytes, b.socket_request_max_bytes);
  if (b.fetch_memory_max_bytes != -1 && b.fetch_memory_max_bytes < 1024)
    return fmt::format("config 'fetch.memory.max.bytes' = {} must be -1 (2 x fetch.max.bytes) or at least 1024",
                       b.fetch_memory_max_bytes);
  if (b.group_min_session_timeout_ms > b.group_max_session_timeout_ms)
    return fmt::format("config 'group.min.session.timeout.ms' = {} exceeds 'group.max.session.timeout.ms' = {}",
                       b.group_min_session_timeout_ms, b.group_max_session_timeout_ms);
  return "";
}

}  // namespace

bool broker_config::is_broker() const { return contains(process_roles, "broker"); }
bool broker_config::is_controller() const { return contains(process_roles, "controller"); }

std::string broker_config::inter_broker_listener() const {
  if (!inter_broker_listener_name.empty()) return inter_broker_listener_name;
  for (const auto& l : listeners)
    if (!contains(controller_listener_names, l.name)) return l.name;
  return listeners.empty() ? std::string("PLAINTEXT") : listeners.front().name;
}

std::string parse_quorum_voter(std::string_view text, quorum_voter& out) {
  text = detail::trim(text);
  const auto at = text.find('@');
  if (at == std::string_view::npos || at == 0) return fmt::format("'{}' is not id@host:port", text);
  int64_t id = 0;
  if (!detail::parse_int64(text.substr(0, at), id) || id < 0 || id > std::numeric_limits<int32_t>::max())
    return fmt::format("'{}': the voter id must be an integer >= 0", text);
  listener l;
  if (auto why = parse_listener(fmt::format("V://{}", text.substr(at + 1)), l); !why.empty())
    return fmt::format("'{}': {}", text, why);
  if (l.host.empty() || l.port <= 0) return fmt::format("'{}' needs a host and a port", text);
  out = quorum_voter{::gregor::node_id(int32_t(id)), l.host, l.port};
  return "";
}

size_t edit_distance(std::string_view a, std::string_view b) {
  return detail::edit_distance_capped(a, b, std::numeric_limits<size_t>::max() - 1);
}

std::string parse_listener(std::string_view text, listener& out) {
  text = detail::trim(text);
  size_t sep = text.find("://");
  if (sep == std::string_view::npos) return fmt::format("'{}' has no '://'", text);
  std::string name(text.substr(0, sep));
  if (name.empty()) return fmt::format("'{}' has no listener name before '://'", text);
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-'))
      return fmt::format("'{}': listener name '{}' may only hold letters, digits, '_' and '-'", text, name);
  std::string_view rest = text.substr(sep + 3);
  std::string host;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      return fmt::format("'{}': expected [ipv6]:port", text);
    host = std::string(rest.substr(1, close - 1));
    port_text = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos) return fmt::format("'{}' has no ':port'", text);
    host = std::string(rest.substr(0, colon));
    if (host.find(':') != std::string::npos) return fmt::format("'{}': put an IPv6 host in brackets", text);
    port_text = rest.substr(colon + 1);
  }
  int64_t port = 0;
  if (!detail::parse_int64(port_text, port) || port < 0 || port > 65535)
    return fmt::format("'{}': port must be an integer between 0 and 65535", text);
  out.name = std::move(name);
  out.host = std::move(host);
  out.port = static_cast<int32_t>(port);
  return "";
}

std::string_view embedded_default_yaml() { return k_embedded_default; }

result<std::pair<std::string, std::string>, std::string> parse_set_arg(std::string_view arg) {
  size_t eq = arg.find('=');
  std::string_view name = eq == std::string_view::npos ? std::string_view() : detail::trim(arg.substr(0, eq));
  if (name.empty()) return failure(fmt::format("--set '{}': expected name=value", arg));
  return std::pair<std::string, std::string>(std::string(name), std::string(arg.substr(eq + 1)));
}

std::vector<std::string> known_broker_config_names() {
  std::vector<std::string> out;
  for (const auto& k : detail::broker_keys()) out.push_back(k.name);
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

constexpr std::string_view k_listener_prefix = "listener.name.";

bool is_listener_prefixed(std::string_view name) { return name.starts_with(k_listener_prefix); }

// SASL mechanisms whose JAAS config may be set per listener (listener.name.<l>.<mech>.sasl.jaas.config).
const std::set<std::string>& jaas_mechanisms() {
  static const std::set<std::string> m{"plain", "scram-sha-256", "scram-sha-512", "oauthbearer", "gssapi"};
  return m;
}

// Broker keys that Kafka lets a listener override with listener.name.<listener>.<key>.
bool listener_overridable(std::string_view key) {
  return key.starts_with("ssl.") || key.starts_with("sasl.") || key == "connections.max.reauth.ms" ||
         key == "max.connections" || key == "max.connections.per.ip" || key == "max.connection.creation.rate";
}

// "" when `name` = listener.name.<listener>.<key> names an overridable key (or a mechanism's JAAS
// config) and `value` is valid for it; else the error, naming the key.
std::string check_listener_prefixed(const std::string& name, const std::string& value) {
  std::string_view rest = std::string_view(name).substr(k_listener_prefix.size());
  const size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == rest.size())
    return fmt::format("config '{}': expected listener.name.<listener>.<config>", name);
  const std::string listener_part(rest.substr(0, dot));
  const std::string key(rest.substr(dot + 1));
  if (listener_part != detail::lower(listener_part))
    return fmt::format("config '{}': the listener name in a listener.name. prefix is written in lower case ('{}')",
                       name, detail::lower(listener_part));
  if (key.ends_with(".sasl.server.callback.handler.class")) {
    const std::string mech = key.substr(0, key.size() - std::string_view(".sasl.server.callback.handler.class").size());
    if (!jaas_mechanisms().count(mech))
      return fmt::format("config '{}': unknown SASL mechanism '{}' (expected one of plain, scram-sha-256, "
                         "scram-sha-512, oauthbearer)",
                         name, mech);
    if (mech != "oauthbearer" ||
        detail::trim(value) != "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler")
      return fmt::format("config '{}' = '{}': Gregor's only server callback handler is "
                         "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler for "
                         "OAUTHBEARER",
                         name, detail::trim(value));
    return "";
  }
  if (key.ends_with(".sasl.jaas.config")) {
    const std::string mech = key.substr(0, key.size() - std::string_view(".sasl.jaas.config").size());
    if (!jaas_mechanisms().count(mech))
      return fmt::format("config '{}': unknown SASL mechanism '{}' (expected one of plain, scram-sha-256, "
                         "scram-sha-512, oauthbearer)",
                         name, mech);
    if (detail::trim(value).empty()) return fmt::format("config '{}' is empty", name);
    return "";
  }
  const detail::broker_key* k = detail::find_broker_key(key);
  if (!k || !listener_overridable(key))
    return fmt::format("config '{}': '{}' cannot be set per listener{}", name, key, k ? "" : suggestion(key));
  broker_config scratch;
  std::string expected = k->set(scratch, value);
  if (!expected.empty()) return fmt::format("config '{}' = '{}': expected {}", name, value, expected);
  return "";
}

}  // namespace

std::string security_protocol_of(const broker_config& b, std::string_view listener_name) {
  for (const auto& item : detail::split_list(b.listener_security_protocol_map)) {
    auto colon = item.find(':');
    if (colon != std::string::npos && item.substr(0, colon) == listener_name) return item.substr(colon + 1);
  }
  return b.listener_security_protocol_map.empty() ? "PLAINTEXT" : std::string(listener_name);
}

std::optional<std::string> listener_value(const broker_config& b, std::string_view listener_name,
                                          std::string_view key) {
  const std::string prefixed = fmt::format("{}{}.{}", k_listener_prefix, detail::lower(listener_name), key);
  auto it = b.dynamic_broker_values.find(prefixed);
  if (it != b.dynamic_broker_values.end()) return it->second;
  it = b.explicit_values.find(prefixed);
  if (it != b.explicit_values.end()) return it->second;
  it = b.explicit_values.find(std::string(key));
  if (it != b.explicit_values.end()) return it->second;
  return std::nullopt;
}

std::vector<std::string> listener_sasl_mechanisms(const broker_config& b, std::string_view listener_name) {
  auto v = listener_value(b, listener_name, "sasl.enabled.mechanisms");
  if (!v) return b.sasl_enabled_mechanisms;
  std::vector<std::string> out;
  for (auto& m : detail::split_list(*v)) out.push_back(std::string(detail::trim(m)));
  return out;
}

result<broker_config, std::string> load_yaml(std::string_view yaml_text, std::string_view origin,
                                             const std::vector<std::pair<std::string, std::string>>& sets) {
  flat_map from_file;
  try {
    YAML::Node root = YAML::Load(std::string(yaml_text));
    if (root.IsDefined() && !root.IsNull()) {
      if (!root.IsMap()) return failure(fmt::format("{}: expected a map of config names to values", origin));
      std::string err = flatten(root, "", from_file, origin);
      if (!err.empty()) return failure(err);
    }
  } catch (const YAML::Exception& e) {
    return failure(fmt::format("{} is not valid YAML: {}", origin, e.what()));
  }
  for (const auto& [name, value] : from_file) {
    if (is_listener_prefixed(name)) continue;
    if (!detail::find_broker_key(name))
      return failure(fmt::format("unknown config '{}' in {}{}", name, origin, suggestion(name)));
  }

  flat_map all = from_file;
  for (const auto& [name, value] : sets) {
    std::string key(detail::trim(name));
    if (!is_listener_prefixed(key) && !detail::find_broker_key(key))
      return failure(fmt::format("unknown config '{}' in --set{}", key, suggestion(key)));
    all[key] = value;
  }
  for (const auto& [name, value] : all) {
    if (!is_listener_prefixed(name)) continue;
    std::string err = check_listener_prefixed(name, value);
    if (!err.empty()) return failure(err);
  }

  broker_config b;
  b.explicit_values = all;
  for (const auto& key : detail::broker_keys()) {
    auto it = all.find(key.name);
    if (it == all.end()) continue;
    std::string expected = key.set(b, it->second);
    if (!expected.empty())
      return failure(fmt::format("config '{}' = '{}': expected {}", key.name, it->second, expected));
  }
  std::string err = finish(b);
  if (!err.empty()) return failure(err);
  return b;
}

result<broker_config, std::string> load(const std::optional<std::filesystem::path>& file,
                                        const std::vector<std::pair<std::string, std::string>>& sets) {
  if (!file) return load_yaml(embedded_default_yaml(), "the embedded default config", sets);
  std::ifstream in(*file, std::ios::binary);
  if (!in) return failure(fmt::format("cannot read config file '{}'", file->string()));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return failure(fmt::format("cannot read config file '{}'", file->string()));
  return load_yaml(ss.str(), file->filename().string(), sets);
}

}  // namespace gregor::config
