// AlterConfigs (key 33). v1: no change. v2: flexible.
// Legacy, non-incremental: the configs given for a topic REPLACE all its overrides (a config left
// out returns to the broker default; a null value removes it). Changes are validated with the topic
// config table, committed through the controller (so they survive restarts) and applied to the open logs
// before the answer. Broker resources ("" = cluster-wide default, or a
// broker id): the given dynamic broker configs REPLACE that resource's dynamic configs, validated
// as Kafka's DynamicBrokerConfig (a read-only config → INVALID_REQUEST "Cannot update these configs
// dynamically: Set(...)"), persisted as broker config records in the metadata log and applied at
// once (topics without an override pick up the new defaults). A change to this broker's listener
// key stores or trust stores (listener.name.<l>.ssl.*, per broker only) is refused with Kafka's
// "Validation of dynamic config update of SSLFactory failed" when the new stores do not load or
// change the certificate's identity; once applied, new connections use them. Also defines the helpers that
// IncrementalAlterConfigs shares.
#include <algorithm>
#include <limits>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/alter_configs.h"
#include "config_changes.h"
#include "handlers.h"
#include "../listener_tls.h"

namespace gregor::server {

boost::asio::awaitable<std::pair<protocol::error_code, std::string>> apply_topic_config_changes(
    core& c, controller_client& ctl, const std::string& name, const config_changes& changes, bool validate_only) {
  using protocol::error_code;
  if (!c.image().topic(name)) {
    co_return std::pair{error_code::unknown_topic_or_partition, fmt::format("Topic '{}' does not exist.", name)};
  }
  for (const auto& [key, value] : changes) {
    if (!config::is_topic_config(key)) {
      co_return std::pair{error_code::invalid_config, fmt::format("Unknown topic config name: {}", key)};
    }
    if (value) {
      if (auto why = config::validate_topic_config(key, *value); !why.empty()) {
        co_return std::pair{error_code::invalid_config, why};
      }
    }
  }
  if (validate_only || changes.empty()) co_return std::pair{error_code::none, std::string()};
  auto r = co_await ctl.alter_topic_configs(name, changes);
  if (!r) co_return std::pair{r.error().code, r.error().message};
  log::get("server").info("topic {}: {} config change(s) applied", name, changes.size());
  co_return std::pair{error_code::none, std::string()};
}

boost::asio::awaitable<std::pair<protocol::error_code, std::string>> apply_broker_config_changes(
    core& c, controller_client& ctl, const std::string& resource, const config_changes& changes, bool validate_only) {
  using protocol::error_code;
  if (!resource.empty()) {
    int64_t id = -1;
    const bool digits = resource.size() <= 10 && std::all_of(resource.begin(), resource.end(),
                                                             [](char ch) { return ch >= '0' && ch <= '9'; });
    if (digits) id = std::stoll(resource);
    if (!digits || id > std::numeric_limits<int32_t>::max()) {
      co_return std::pair{error_code::invalid_request, fmt::format("Broker id must be an integer, but it is: {}", resource)};
    }
  }
  if (auto why = config::validate_dynamic_broker_changes(changes, !resource.empty()); !why.empty()) {
    co_return std::pair{error_code::invalid_request, why};
  }
  // A new key store or trust store of this broker's listeners must load and keep the certificate's
  // identity before it is stored (another broker's files cannot be checked here).
  if (resource == std::to_string(c.config().node_id.value())) {
    auto dynamic = c.image().broker_configs(resource);
    for (const auto& [key, value] : changes) {
      if (value) dynamic[key] = *value;
      else dynamic.erase(key);
    }
    const auto next = config::with_dynamic(c.static_config(), c.image().broker_configs(""), dynamic);
    if (auto why = check_listener_tls_changes(c.config(), next); !why.empty()) {
      co_return std::pair{error_code::invalid_request,
                          fmt::format("Invalid config value for resource ConfigResource(type=BROKER, name='{}'): "
                                      "Validation of dynamic config update of SSLFactory failed: {}",
                                      resource, why)};
    }
  }
  if (validate_only || changes.empty()) co_return std::pair{error_code::none, std::string()};
  auto r = co_await ctl.alter_broker_configs(resource, changes);
  if (!r) co_return std::pair{r.error().code, r.error().message};
  log::get("server").info("broker configs '{}': {} dynamic change(s) applied", resource, changes.size());
  co_return std::pair{error_code::none, std::string()};
}

namespace {
using req_t = protocol::alter_configs_request;
using resp_t = protocol::alter_configs_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  for (const auto& res : req.resources) {
    auto& out = resp.responses.emplace_back();
    out.resource_type = res.resource_type;
    out.resource_name = res.resource_name;
    out.error_code = 0;
    auto set_error = [&](error_code e, std::string msg) {
      out.error_code = code(e);
      out.error_message = std::move(msg);
    };
    if (auto denied = config_resource_denial(ctx, res.resource_type, res.resource_name, acl_op::alter_configs);
        denied != error_code::none) {
      set_error(denied, std::string(authorization_message(denied)));
      continue;
    }
    if (res.resource_type != config_resource_topic && res.resource_type != config_resource_broker) {
      set_error(error_code::invalid_request, fmt::format("Unsupported resource type {}", res.resource_type));
      continue;
    }
    const bool broker = res.resource_type == config_resource_broker;
    const auto* t = broker ? nullptr : c.image().topic(res.resource_name);
    if (!broker && !t) {
      set_error(error_code::unknown_topic_or_partition,
                fmt::format("Topic '{}' does not exist.", res.resource_name));
      continue;
    }
    config_changes changes;
    bool duplicate = false;
    for (const auto& cfg : res.configs) {
      duplicate = duplicate || changes.contains(cfg.name);
      changes[cfg.name] = cfg.value;
    }
    if (duplicate) {
      set_error(error_code::invalid_request, "Duplicate config names in one resource.");
      continue;
    }
    // Non-incremental: what the resource has (topic overrides, or the broker resource's dynamic
    // configs) and the request does not mention is removed.
    const auto& current = broker ? c.image().broker_configs(res.resource_name) : t->configs;
    for (const auto& [key, value] : current) {
      if (!changes.contains(key)) changes[key] = std::nullopt;
    }
    std::pair<error_code, std::string> applied;
    if (broker) applied = co_await apply_broker_config_changes(c, controller_for(c, ctx), res.resource_name, changes, req.validate_only);
    else applied = co_await apply_topic_config_changes(c, controller_for(c, ctx), res.resource_name, changes, req.validate_only);
    if (applied.first != error_code::none) set_error(applied.first, applied.second);
  }
  co_return resp;
}

}  // namespace

api_route alter_configs_route() {
  return make_route<req_t, resp_t, &handle, 0, 2>("AlterConfigs");
}

}  // namespace gregor::server
