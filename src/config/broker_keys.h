#pragma once
// The table of broker config keys (private to the config module): how each Kafka name is parsed
// into broker_config, printed back, typed and documented.
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gregor/config/broker_config.h"

namespace gregor::config::detail {

struct broker_key {
  std::string name;
  int8_t type = config_type::string;
  std::string doc;
  // Kafka's default for this key is null (the *.ms twins of *.hours keys, log.flush.interval.ms).
  bool null_default = false;
  // False where Gregor has a default and Kafka none (node.id, process.roles): DescribeConfigs then
  // lists no DEFAULT_CONFIG synonym, as Kafka does not.
  bool default_synonym = true;
  // A secret (passwords, inline private keys): DescribeConfigs reports it as null, isSensitive.
  bool sensitive = false;
  // Parses `value` into the config: "" on success, else the expected form ("an integer >= 1").
  std::function<std::string(broker_config&, std::string_view)> set;
  // The current value as Kafka prints it.
  std::function<std::string(const broker_config&)> get;
};

// In application order: a lower-precedence alias comes before the key that overrides it
// (log.retention.hours, then .minutes, then .ms; log.dir, then log.dirs; broker.id, then node.id).
const std::vector<broker_key>& broker_keys();
const broker_key* find_broker_key(std::string_view name);
// The value printed for `key` by a default-constructed config, or nullopt when Kafka's is null.
std::optional<std::string> broker_default_text(const broker_key& key);
// "" if `text` is a valid cleanup.policy list, else the expected form.
std::string check_cleanup_policy(std::string_view text);
// The first (most specific) broker synonym of every topic config that has one (log.retention.ms,
// log.segment.bytes, ...): Kafka's DynamicLogConfig reconfigurable set (topic_config.cc).
std::vector<std::string> topic_primary_broker_synonyms();
// "ssl.keystore.location" for "listener.name.<listener>.ssl.keystore.location", nullopt when
// `name` has no listener prefix (the key is not checked).
std::optional<std::string> listener_prefixed_base(std::string_view name);

}  // namespace gregor::config::detail
