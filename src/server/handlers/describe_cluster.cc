// DescribeCluster (key 60, always flexible). v1: endpoint_type (1 = brokers, 2 = controllers).
// v2: include_fenced_brokers and is_fenced per broker.
#include "gregor/protocol/messages/describe_cluster.h"
#include "handlers.h"
#include "../metadata_quorum.h"

namespace gregor::server {
namespace {
using req_t = protocol::describe_cluster_request;
using resp_t = protocol::describe_cluster_response;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  resp.endpoint_type = req.endpoint_type;
  const bool controller_listener = c.is_controller_listener(ctx.conn.listener_name);
  if ((req.endpoint_type == 2) != controller_listener || (req.endpoint_type != 1 && req.endpoint_type != 2)) {
    // Kafka: brokers are described on broker listeners, controllers on controller listeners.
    resp.error_code = code(protocol::error_code::mismatched_endpoint_type);
    resp.error_message = controller_listener ? "this listener serves controllers, not brokers"
                                             : "this listener serves brokers, not controllers";
    co_return resp;
  }
  resp.cluster_id = c.image().cluster_id();
  // As Kafka: the cluster's authorized operations when asked for, 0 without Describe on it.
  if (req.include_cluster_authorized_operations)
    resp.cluster_authorized_operations =
        cluster_authorized(ctx, acl_op::describe)
            ? authorized_operations(ctx, security::resource_type::cluster, security::cluster_resource_name)
            : 0;
  if (req.endpoint_type == 2) {
    // The quorum's voters, at their controller listeners; the controller id is the active one.
    const node_id leader = c.image().controller_id();
    resp.controller_id = leader.value();
    if (auto* q = c.quorum()) {
      bool leader_listed = false;
      for (const auto& v : q->voters()) {
        auto& out = resp.brokers.emplace_back();
        out.broker_id = v.id.value();
        out.host = v.host;
        out.port = v.port;
        leader_listed |= v.id == leader;
      }
      // A leader that removed itself from the voters (KIP-853) stays the controller this node
      // knows until the others elect: list it too, as Kafka lists every registered controller.
      // The Java Admin client never refreshes metadata that names a controller missing from
      // the node list: it waits for a node assignment until its call times out.
      if (!leader_listed && leader != no_node) {
        if (auto ep = q->controllers().endpoint_of(leader)) {
          auto& out = resp.brokers.emplace_back();
          out.broker_id = leader.value();
          out.host = ep->host;
          out.port = ep->port;
        }
      }
    }
    co_return resp;
  }
  resp.controller_id = c.client_controller_id().value();
  for (const auto& [id, b] : c.image().brokers()) {
    if (b.fenced && !(ctx.version() >= 2 && req.include_fenced_brokers)) continue;
    auto& out = resp.brokers.emplace_back();
    out.is_fenced = b.fenced;
    out.broker_id = id.value();
    auto endpoint = c.endpoint_of(b, ctx.conn.listener_name);
    out.host = endpoint.host;
    out.port = endpoint.port;
    out.rack = b.rack;
  }
  co_return resp;
}

}  // namespace

api_route describe_cluster_route() {
  return make_route<req_t, resp_t, &handle, 0, 2>("DescribeCluster");
}

}  // namespace gregor::server
