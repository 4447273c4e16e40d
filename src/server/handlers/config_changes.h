#pragma once
// Shared by the config handlers (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs): Kafka's
// config resource types and the validate -> commit through the controller step for topic and dynamic broker
// config changes (defined in alter_configs.cc).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "gregor/protocol/error_code.h"
#include <boost/asio/awaitable.hpp>

#include "../controller_client.h"
#include "../core.h"

namespace gregor::server {

inline constexpr int8_t config_resource_topic = 2;
inline constexpr int8_t config_resource_broker = 4;
inline constexpr int8_t config_resource_broker_logger = 8;

// Validates and (unless validate_only) persists and applies `changes` to topic `name`. Returns
// the Kafka error and its message (none -> "").
boost::asio::awaitable<std::pair<protocol::error_code, std::string>> apply_topic_config_changes(
    core& c, controller_client& ctl, const std::string& name, const config_changes& changes, bool validate_only);

// Dynamic broker configs: validates `resource` ("" or a broker id) and `changes`, then unless
// validate_only persists them and re-applies the metadata (the effective config changes at once).
boost::asio::awaitable<std::pair<protocol::error_code, std::string>> apply_broker_config_changes(
    core& c, controller_client& ctl, const std::string& resource, const config_changes& changes, bool validate_only);

}  // namespace gregor::server
