// DescribeConfigs (key 32). v1: include_synonyms, config source, synonyms. v2: no change. v3:
// include_documentation, config type and documentation. v4: flexible.
// Resource types: 2 topic, 4 broker ("<node id>": every broker config with its source; "": the
// dynamic cluster-wide defaults only), 8 broker logger.
#include "gregor/protocol/messages/describe_configs.h"
#include "config_changes.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::describe_configs_request;
using resp_t = protocol::describe_configs_response;
using protocol::error_code;


template <class Out>
void add_entries(const std::vector<config::config_entry_desc>& entries,
                 const std::optional<std::vector<std::string>>& keys, const req_t& req, int16_t v,
                 Out& out) {
  for (const auto& e : entries) {
    if (keys && std::find(keys->begin(), keys->end(), e.name) == keys->end()) continue;
    auto& co = out.configs.emplace_back();
    co.name = e.name;
    co.value = e.is_null || e.sensitive ? std::nullopt : std::optional<std::string>(e.value);
    co.read_only = e.read_only;
    co.config_source = e.source;
    co.is_sensitive = e.sensitive;
    if (req.include_synonyms) {
      for (const auto& s : e.synonyms) {
        auto& so = co.synonyms.emplace_back();
        so.name = s.name;
        so.value = s.value;
        so.source = s.source;
      }
    }
    co.config_type = e.type;
    if (req.include_documentation) co.documentation = e.documentation;
  }
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  const int16_t v = ctx.version();
  for (const auto& res : req.resources) {
    auto& out = resp.results.emplace_back();
    out.resource_type = res.resource_type;
    out.resource_name = res.resource_name;
    out.error_code = 0;
    if (auto denied = config_resource_denial(ctx, res.resource_type, res.resource_name, acl_op::describe_configs);
        denied != error_code::none) {
      out.error_code = code(denied);
      out.error_message = std::string(authorization_message(denied));
      continue;
    }
    switch (res.resource_type) {
      case config_resource_topic: {
        const auto* t = c.image().topic(res.resource_name);
        if (!t) {
          out.error_code = code(error_code::unknown_topic_or_partition);
          out.error_message = fmt::format("Topic '{}' does not exist.", res.resource_name);
          break;
        }
        add_entries(config::describe_topic_configs(t->configs, c.config()),
                    res.configuration_keys, req, v, out);
        break;
      }
      case config_resource_broker: {
        if (!res.resource_name.empty() &&
            res.resource_name != std::to_string(c.self().value())) {
          out.error_code = code(error_code::invalid_request);
          out.error_message = fmt::format("Unexpected broker id, expected {} or empty string, but received {}",
                                          c.self().value(), res.resource_name);
          break;
        }
        // "" is the cluster-wide default: Kafka lists only the dynamic defaults there.
        add_entries(res.resource_name.empty() ? config::describe_default_broker_configs(c.config())
                                              : config::describe_broker_configs(c.config()),
                    res.configuration_keys, req, v, out);
        break;
      }
      case config_resource_broker_logger:
        // Logger levels are not exposed per logger; an empty list is a valid answer.
        break;
      default:
        out.error_code = code(error_code::invalid_request);
        out.error_message = fmt::format("unsupported resource type {}", res.resource_type);
    }
  }
  co_return resp;
}

}  // namespace

api_route describe_configs_route() {
  return make_route<req_t, resp_t, &handle, 1, 4>("DescribeConfigs");
}

}  // namespace gregor::server
