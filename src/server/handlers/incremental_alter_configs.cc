// IncrementalAlterConfigs (key 44). v1: flexible.
// Per config: SET (0), DELETE (1: back to the broker default), APPEND (2) and SUBTRACT (3) for
// list configs (e.g. cleanup.policy), starting from the current effective value. Topic changes are
// validated, persisted and applied like AlterConfigs' (apply_topic_config_changes in
// alter_configs.cc). This is what `kafka-configs.sh --alter` sends. Broker resources ("" = the
// cluster-wide default, "<id>" = one broker) change dynamic broker configs
// (apply_broker_config_changes: Kafka's validation and messages, metadata log, applied at once);
// APPEND/SUBTRACT start from the resource's dynamic value, else the effective one. Broker-logger
// resources are refused with INVALID_REQUEST.
#include <sstream>

#include "gregor/protocol/messages/incremental_alter_configs.h"
#include "config_changes.h"
#include "handlers.h"

namespace gregor::server {

namespace {
using req_t = protocol::incremental_alter_configs_request;
using resp_t = protocol::incremental_alter_configs_response;
using protocol::error_code;

constexpr int8_t op_set = 0, op_delete = 1, op_append = 2, op_subtract = 3;

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) {
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out;
}

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
      set_error(error_code::invalid_request,
                fmt::format("Altering resource type {} is not supported by this broker.", res.resource_type));
      continue;
    }
    const bool broker = res.resource_type == config_resource_broker;
    const auto* t = broker ? nullptr : c.image().topic(res.resource_name);
    if (!broker && !t) {
      set_error(error_code::unknown_topic_or_partition,
                fmt::format("Topic '{}' does not exist.", res.resource_name));
      continue;
    }
    auto described = broker ? config::describe_broker_configs(c.config())
                            : config::describe_topic_configs(t->configs, c.config());
    if (broker) {
      // APPEND/SUBTRACT on a broker resource start from that resource's own dynamic value.
      const auto& stored = c.image().broker_configs(res.resource_name);
      for (auto& d : described) {
        if (auto it = stored.find(d.name); it != stored.end()) d.value = it->second, d.is_null = false;
      }
    }
    config_changes changes;
    std::string problem;
    error_code problem_code = error_code::none;
    for (const auto& cfg : res.configs) {
      if (changes.contains(cfg.name)) {
        problem_code = error_code::invalid_request;
        problem = fmt::format("Duplicate config name {} in one resource.", cfg.name);
        break;
      }
      auto desc = std::find_if(described.begin(), described.end(),
                               [&](const config::config_entry_desc& d) { return d.name == cfg.name; });
      // A broker resource's SET or DELETE of a name Describe does not list (a listener override
      // not set yet: listener.name.<l>.ssl.keystore.location) is checked by
      // apply_broker_config_changes, with the same message for an unknown name.
      const bool listed_later = broker && (cfg.config_operation == op_set || cfg.config_operation == op_delete);
      if (desc == described.end() && !listed_later) {
        problem_code = broker ? error_code::invalid_request : error_code::invalid_config;
        problem = fmt::format("Unknown {} config name: {}", broker ? "broker" : "topic", cfg.name);
        break;
      }
      switch (cfg.config_operation) {
        case op_set:
          if (!cfg.value) {
            problem_code = error_code::invalid_request;
            problem = fmt::format("Null value not supported for SET of {}", cfg.name);
          }
          changes[cfg.name] = cfg.value;
          break;
        case op_delete: changes[cfg.name] = std::nullopt; break;
        case op_append:
        case op_subtract: {
          if (desc->type != config::config_type::list) {
            problem_code = error_code::invalid_config;
            problem = fmt::format("Config value append/subtract is not allowed for config key {}",
                                  cfg.name);
            break;
          }
          auto items = split_list(desc->is_null ? std::string() : desc->value);
          for (const auto& v : split_list(cfg.value.value_or(""))) {
            auto it = std::find(items.begin(), items.end(), v);
            if (cfg.config_operation == op_append && it == items.end()) items.push_back(v);
            if (cfg.config_operation == op_subtract && it != items.end()) items.erase(it);
          }
          changes[cfg.name] = join_list(items);
          break;
        }
        default:
          problem_code = error_code::invalid_request;
          problem = fmt::format("Unknown config operation {} for {}", cfg.config_operation, cfg.name);
      }
      if (problem_code != error_code::none) break;
    }
    if (problem_code != error_code::none) {
      set_error(problem_code, problem);
      continue;
    }
    std::pair<error_code, std::string> applied;
    if (broker) applied = co_await apply_broker_config_changes(c, controller_for(c, ctx), res.resource_name, changes, req.validate_only);
    else applied = co_await apply_topic_config_changes(c, controller_for(c, ctx), res.resource_name, changes, req.validate_only);
    if (applied.first != error_code::none) set_error(applied.first, applied.second);
  }
  co_return resp;
}

}  // namespace

api_route incremental_alter_configs_route() {
  return make_route<req_t, resp_t, &handle, 0, 1>("IncrementalAlterConfigs");
}

}  // namespace gregor::server
