// JoinGroup (key 11). v1: rebalance timeout. v2: throttle time. v4: MEMBER_ID_REQUIRED for
// members joining without an id (they retry with the id given). v5: group instance id (static
// membership). v6: flexible. v7: protocol type and name in the answer. v8: reason. v9: skip
// assignment (a static leader that rejoins a stable group keeps the current assignment).
// The answer is parked in group_service until the rebalance completes.
#include "gregor/protocol/messages/join_group.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::join_group_request;
using resp_t = protocol::join_group_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  resp.member_id = req.member_id;
  if (!group_authorized(ctx, acl_op::read, req.group_id)) {
    resp.error_code = code(error_code::group_authorization_failed);
    if (ctx.version() < 7) resp.protocol_name = "";
    co_return resp;
  }
  group_service& groups = *co_await c.groups();
  if (auto e = groups.check_group(req.group_id); e != error_code::none) {
    resp.error_code = code(e);
    co_return resp;
  }
  if (groups.consumer_groups().has_group(req.group_id) &&
      groups.consumer_groups().describe(req.group_id)->members.size() > 0) {
    resp.error_code = code(error_code::inconsistent_group_protocol);
    co_return resp;
  }
  group::join_input in;
  in.group_id = req.group_id;
  in.member_id = req.member_id;
  in.instance_id = ctx.version() >= 5 ? req.group_instance_id : std::nullopt;
  in.client_id = ctx.header.client_id.value_or("");
  in.client_host = client_host_of(ctx.conn.peer);
  in.session_timeout_ms = req.session_timeout_ms;
  in.rebalance_timeout_ms = ctx.version() >= 1 ? req.rebalance_timeout_ms : req.session_timeout_ms;
  in.protocol_type = req.protocol_type;
  for (auto& p : req.protocols) in.protocols.push_back({p.name, std::move(p.metadata)});
  in.require_known_member_id = ctx.version() >= 4;
  in.supports_skip_assignment = ctx.version() >= 9;
  group::join_output out = co_await groups.join(std::move(in));
  resp.error_code = code(out.error);
  resp.generation_id = out.generation;
  resp.protocol_type = out.protocol_type;
  resp.protocol_name = out.protocol_name;
  resp.leader = out.leader;
  resp.skip_assignment = out.skip_assignment;
  resp.member_id = out.member_id;
  for (auto& m : out.members) {
    auto& rm = resp.members.emplace_back();
    rm.member_id = m.member_id;
    rm.group_instance_id = m.instance_id;
    rm.metadata = std::move(m.metadata);
  }
  // Before v7 the protocol name is not nullable: an error answer carries "".
  if (ctx.version() < 7 && !resp.protocol_name) resp.protocol_name = "";
  co_return resp;
}

}  // namespace

api_route join_group_route() { return make_route<req_t, resp_t, &handle, 0, 9>("JoinGroup"); }

}  // namespace gregor::server
