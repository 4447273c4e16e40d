// Dynamic broker configs (Kafka's DynamicBrokerConfig): which broker configs may change at runtime,
// validating a change, and deriving the effective config from the static one plus the dynamic
// values stored in the metadata log.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "broker_keys.h"
#include "gregor/config/broker_config.h"
#include "parse.h"

namespace gregor::config {
namespace {

// Beyond the topic configs' broker synonyms: Kafka's LogCleaner, DynamicThreadPool and
// ProducerStateManager reconfigurable configs that Gregor knows. Listener configs (per-broker in
// Kafka) are left out: Gregor cannot rebind its listeners at runtime.
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

}  // namespace

bool is_dynamic_broker_config(std::string_view name) {
  return dynamic_names().count(name) != 0;
}

std::vector<std::string> dynamic_broker_config_names() {
  return {dynamic_names().begin(), dynamic_names().end()};
}

std::string validate_dynamic_broker_changes(
    const std::map<std::string, std::optional<std::string>>& changes) {
  std::vector<std::string> unknown, read_only;
  for (const auto& [name, value] : changes) {
    if (!detail::find_broker_key(name))
      unknown.push_back(name);
    else if (!is_dynamic_broker_config(name))
      read_only.push_back(name);
  }
  if (!unknown.empty())
    return fmt::format("Unknown broker config name: {}", detail::join_list(unknown));
  if (!read_only.empty()) return "Cannot update these configs dynamically: " + scala_set(read_only);
  broker_config scratch;
  for (const auto& [name, value] : changes) {
    if (!value) continue;
    std::string expected = detail::find_broker_key(name)->set(scratch, *value);
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
  auto usable = [&](const std::map<std::string, std::string>& from,
                    std::map<std::string, std::string>& into) {
    for (const auto& [name, value] : from) {
      const auto* k = detail::find_broker_key(name);
      broker_config scratch;
      if (!k || !is_dynamic_broker_config(name) || !k->set(scratch, value).empty()) {
        if (skipped) skipped->push_back(name);
        continue;
      }
      into[name] = value;
    }
  };
  usable(defaults, b.dynamic_default_values);
  usable(per_broker, b.dynamic_broker_values);
  if (b.dynamic_default_values.empty() && b.dynamic_broker_values.empty()) return b;
  // Kafka rebuilds its config from static + dynamic default + dynamic broker properties, so a key's
  // precedence over its aliases holds across levels: re-apply, in table order (aliases first),
  // every key that is dynamic or an alias of one, with the most specific level's text.
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
