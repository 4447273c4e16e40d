// AlterClientQuotas (key 49, v0-1; v1 is flexible): `kafka-configs.sh --alter --entity-type
// users|clients|ips --add-config producer_byte_rate=...` (and --delete-config). Needs ALTER_CONFIGS
// on the cluster (CLUSTER_AUTHORIZATION_FAILED for every entry otherwise); the controller decides
// everything else with Kafka's rules (controller::quorum_controller::alter_client_quotas) and
// stores ClientQuotaRecords, which DescribeClientQuotas reads and the brokers' client quota
// managers enforce. One result per distinct entity.
#include "gregor/base/log.h"
#include "gregor/protocol/messages/alter_client_quotas.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using protocol::error_code;
using req_t = protocol::alter_client_quotas_request;
using resp_t = protocol::alter_client_quotas_response;

// Kafka answers with the entity as a Java HashMap lists it: ip, client-id, user.
template <class Out>
void put_entity(Out& out, const controller::quota_entity& entity) {
  for (const char* type : {"ip", "client-id", "user"})
    for (const auto& [t, name] : entity)
      if (t == type) {
        auto& d = out.emplace_back();
        d.entity_type = t;
        d.entity_name = name;
      }
  for (const auto& [t, name] : entity)
    if (t != "ip" && t != "client-id" && t != "user") {
      auto& d = out.emplace_back();
      d.entity_type = t;
      d.entity_name = name;
    }
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  if (!cluster_authorized(ctx, security::acl_operation::alter_configs)) {
    for (const auto& e : req.entries) {
      auto& out = resp.entries.emplace_back();
      out.error_code = code(error_code::cluster_authorization_failed);
      out.error_message = "Cluster authorization failed.";
      for (const auto& d : e.entity) {
        auto& w = out.entity.emplace_back();
        w.entity_type = d.entity_type;
        w.entity_name = d.entity_name;
      }
    }
    co_return resp;
  }
  std::vector<quota_alteration> entries;
  for (const auto& e : req.entries) {
    auto& a = entries.emplace_back();
    for (const auto& d : e.entity) a.entity.emplace_back(d.entity_type, d.entity_name);
    for (const auto& op : e.ops) a.ops.push_back({op.key, op.value, op.remove});
  }
  if (entries.empty()) co_return resp;
  auto r = co_await controller_for(c, ctx).alter_client_quotas(std::move(entries), req.validate_only);
  if (!r) {
    for (const auto& e : req.entries) {
      auto& out = resp.entries.emplace_back();
      out.error_code = code(r.error().code);
      out.error_message = r.error().message;
      for (const auto& d : e.entity) {
        auto& w = out.entity.emplace_back();
        w.entity_type = d.entity_type;
        w.entity_name = d.entity_name;
      }
    }
    co_return resp;
  }
  size_t altered = 0;
  for (const auto& o : *r) {
    auto& out = resp.entries.emplace_back();
    put_entity(out.entity, o.entity);
    if (o.error) {
      out.error_code = code(o.error->code);
      out.error_message = o.error->message;
    } else {
      out.error_message = std::nullopt;
      ++altered;
    }
  }
  if (!req.validate_only && altered > 0)
    log::get("server").info("client quotas of {} entit{} altered by {}", altered, altered == 1 ? "y" : "ies",
                            ctx.session ? ctx.session->principal : std::string("?"));
  co_return resp;
}

}  // namespace

api_route alter_client_quotas_route() {
  return make_route<req_t, resp_t, &handle, 0, 1>("AlterClientQuotas");
}

}  // namespace gregor::server
