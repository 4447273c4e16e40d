// DescribeClientQuotas (key 48, v0-1): the client quotas (ClientQuotaRecord in the metadata log)
// whose entity matches the filter, Kafka's ClientQuotaFilter semantics: every component names an
// entity type the entity has, with match type 0 (exactly this name), 1 (the default entity: no
// name) or 2 (any specified name); with Strict, the entity has no other entity types. kafka-configs.sh
// --describe for users and clients asks it (and AlterUserScramCredentials' users too).
#include <set>

#include "gregor/protocol/messages/describe_client_quotas.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using protocol::error_code;
using req_t = protocol::describe_client_quotas_request;
using resp_t = protocol::describe_client_quotas_response;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  if (!cluster_authorized(ctx, acl_op::describe_configs)) {
    resp.error_code = code(error_code::cluster_authorization_failed);
    resp.error_message = std::string(authorization_message(error_code::cluster_authorization_failed));
    resp.entries = std::nullopt;
    co_return resp;
  }
  std::set<std::string> types;
  for (const auto& comp : req.components) {
    std::string why;
    if (comp.entity_type != "user" && comp.entity_type != "client-id" && comp.entity_type != "ip")
      why = "Custom entity type '" + comp.entity_type + "' not supported";
    else if (!types.insert(comp.entity_type).second)
      why = "Duplicate entity type in filter: " + comp.entity_type;
    else if (comp.match_type < 0 || comp.match_type > 2)
      why = "Unknown match type: " + std::to_string(comp.match_type);
    else if (comp.match_type == 0 && !comp.match)
      why = "Exact match requires a name";
    if (!why.empty()) {
      resp.error_code = code(error_code::invalid_request);
      resp.error_message = why;
      resp.entries = std::nullopt;
      co_return resp;
    }
  }
  resp.entries.emplace();
  for (const auto& [entity, values] : c.image().client_quotas()) {
    bool match = true;
    for (const auto& comp : req.components) {
      const std::optional<std::string>* name = nullptr;
      for (const auto& [type, n] : entity)
        if (type == comp.entity_type) name = &n;
      if (!name) {
        match = false;
      } else if (comp.match_type == 0) {
        match = match && name->has_value() && **name == *comp.match;
      } else if (comp.match_type == 1) {
        match = match && !name->has_value();
      } else {
        match = match && name->has_value();
      }
    }
    if (match && req.strict)
      for (const auto& [type, n] : entity)
        if (!types.contains(type)) match = false;
    if (!match) continue;
    auto& e = resp.entries->emplace_back();
    for (const auto& [type, n] : entity) {
      auto& d = e.entity.emplace_back();
      d.entity_type = type;
      d.entity_name = n;
    }
    for (const auto& [key, value] : values) {
      auto& v = e.values.emplace_back();
      v.key = key;
      v.value = value;
    }
  }
  co_return resp;
}

}  // namespace

api_route describe_client_quotas_route() {
  return make_route<req_t, resp_t, &handle, 0, 1>("DescribeClientQuotas");
}

}  // namespace gregor::server
