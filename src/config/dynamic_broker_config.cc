// Dynamic broker configs (Kafka's DynamicBrokerConfig): which broker configs may change at runtime,
// validating a change, and deriving the effective config from the static one plus the dynamic
// values stored in the metadata log.
#include <algorithm>
#include <iterator>
#include <set>

#include <fmt/format.h>

#include "broker_keys.h"
#include "gregor/config/broker_config.h"
#include "parse.h"

namespace gregor::config {
namespace {

// Beyond the topic configs' broker synonyms: Kafka's LogCleaner, DynamicThreadPool and
// ProducerStateManager reconfigurable configs that Gregor knows. Of the listener configs
// (per-broker in Kafka) only the key and trust stores change at runtime (k_listener_ssl below):
// Gregor cannot rebind its listeners.
constexpr std::string_view k_extra_dynamic[] = {
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.backoff.ms",
    "num.io.threads",
    "num.network.threads",
    "num.replica.fetchers",
    "num.recovery.threads.per.data.dir",
    "producer.id.expiration.ms",
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "replica.alter.log.dirs.io.max.bytes.per.second",
};

// Kafka's SslConfigs.RECONFIGURABLE_CONFIGS: dynamic with a listener prefix only, per broker only.
constexpr std::string_view k_listener_ssl[] = {
    "ssl.keystore.type",     "ssl.keystore.location",   "ssl.keystore.password",
    "ssl.key.password",      "ssl.truststore.type",     "ssl.truststore.location",
    "ssl.truststore.password", "ssl.keystore.certificate.chain", "ssl.keystore.key",
    "ssl.truststore.certificates",
};

bool is_listener_ssl(std::string_view key) {
  return std::find(std::begin(k_listener_ssl), std::end(k_listener_ssl), key) != std::end(k_listener_ssl);
}

const std::set<std::string, std::less<>>& dynamic_names() {
  static const std::set<std::string, std::less<>> names = [] {
    std::set<std::string, std::less<>> s;
    for (auto& n : detail::topic_primary_broker_synonyms())
      if (detail::find_broker_key(n)) s.insert(n);
    for (auto n : k_extra_dynamic) s.insert(std::string(n));
    return s;
  }();
  return names;
}

// Scala's Set(...) rendering, which Kafka's messages carry.
std::string scala_set(const std::vector<std::string>& names) {
  std::string out = "Set(";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out + ")";
}

// A known broker config, plain or listener-prefixed (by the key it overrides).
const detail::broker_key* known_key(std::string_view name) {
  if (const auto* k = detail::find_broker_key(name)) return k;
  if (auto base = detail::listener_prefixed_base(name)) return detail::find_broker_key(*base);
  return nullptr;
}

}  // namespace

namespace detail {

std::optional<std::string> listener_prefixed_base(std::string_view name) {
  constexpr std::string_view prefix = "listener.name.";
  if (!name.starts_with(prefix)) return std::nullopt;
  std::string_view rest = name.substr(prefix.size());
  const size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == rest.size()) return std::nullopt;
  return std::string(rest.substr(dot + 1));
}

}  // namespace detail

bool is_dynamic_broker_config(std::string_view name) {
  return dynamic_names().count(name) != 0 || is_per_broker_config(name);
}

bool is_per_broker_config(std::string_view name) {
  auto base = detail::listener_prefixed_base(name);
  return base && is_listener_ssl(*base);
}

std::vector<std::string> dynamic_broker_config_names() {
  return {dynamic_names().begin(), dynamic_names().end()};
}

std::string validate_dynamic_broker_changes(const std::map<std::string, std::optional<std::string>>& changes,
                                            bool per_broker) {
  std::vector<std::string> unknown, read_only, unprefixed, broker_only;
  for (const auto& [name, value] : changes) {
    if (!known_key(name))
      unknown.push_back(name);
    else if (is_listener_ssl(name))
      unprefixed.push_back(name);
    else if (!is_dynamic_broker_config(name))
      read_only.push_back(name);
    else if (is_per_broker_config(name))
      broker_only.push_back(name);
  }
  if (!unknown.empty())
    return fmt::format("Unknown broker config name: {}", detail::join_list(unknown));
  if (!read_only.empty()) return "Cannot update these configs dynamically: " + scala_set(read_only);
  if (!unprefixed.empty())
    return "These security configs can be dynamically updated only per-listener using the listener prefix: " +
           scala_set(unprefixed);
  if (!per_broker && !broker_only.empty())
    return "Cannot update these configs at default cluster level, broker id must be specified: " +
           scala_set(broker_only);
  broker_config scratch;
  for (const auto& [name, value] : changes) {
    if (!value) continue;
    std::string expected = known_key(name)->set(scratch, *value);
    if (!expected.empty())
      return fmt::format("Invalid value {} for configuration {}: expected {}", *value, name,
                         expected);
  }
  return "";
}

broker_config with_dynamic(const broker_config& static_cfg,
                           const std::map<std::string, std::string>& defaults,
                           const std::map<std::string, std::string>& per_broker,
                           std::vector<std::string>* skipped) {
  broker_config b = static_cfg;
  b.dynamic_default_values.clear();
  b.dynamic_broker_values.clear();
  auto usable = [&](const std::map<std::string, std::string>& from, std::map<std::string, std::string>& into,
                    bool per_broker) {
    for (const auto& [name, value] : from) {
      const auto* k = known_key(name);
      broker_config scratch;
      // Kafka ignores per-broker configs stored at the cluster default.
      if (!k || !is_dynamic_broker_config(name) || (!per_broker && is_per_broker_config(name)) ||
          !k->set(scratch, value).empty()) {
        if (skipped) skipped->push_back(name);
        continue;
      }
      into[name] = value;
    }
  };
  usable(defaults, b.dynamic_default_values, false);
  usable(per_broker, b.dynamic_broker_values, true);
  if (b.dynamic_default_values.empty() && b.dynamic_broker_values.empty()) return b;
  // Kafka rebuilds its config from static + dynamic default + dynamic broker properties, so a key's
  // precedence over its aliases holds across levels: re-apply, in table order (aliases first),
  // every key that is dynamic or an alias of one, with the most specific level's text. The
  // listener-prefixed ssl.* values are read from dynamic_broker_values (config::listener_value).
  std::map<std::string, std::string> merged = static_cfg.explicit_values;
  for (const auto& [n, v] : b.dynamic_default_values) merged[n] = v;
  for (const auto& [n, v] : b.dynamic_broker_values) merged[n] = v;
  for (const auto& key : detail::broker_keys()) {
    auto it = merged.find(key.name);
    if (it == merged.end()) continue;
    const bool dynamic = is_dynamic_broker_config(key.name);
    const bool alias = key.name.find(".hours") != std::string::npos ||
                       key.name.find(".minutes") != std::string::npos;
    if (dynamic || alias) key.set(b, it->second);
  }
  return b;
}

}  // namespace gregor::config
