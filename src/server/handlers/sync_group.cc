// SyncGroup (key 14). v1: throttle time. v3: group instance id. v4: flexible. v5: protocol type
// and name in request (checked against the group's) and answer.
// The leader's SyncGroup carries every member's assignment; the others are parked in
// group_service until it arrives. The answer always carries a (possibly empty) assignment.
#include "gregor/protocol/messages/sync_group.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::sync_group_request;
using resp_t = protocol::sync_group_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  if (!group_authorized(ctx, acl_op::read, req.group_id)) {
    resp.error_code = code(error_code::group_authorization_failed);
    co_return resp;
  }
  group_service& groups = *co_await c.groups();
  if (auto e = groups.check_group(req.group_id); e != error_code::none) {
    resp.error_code = code(e);
    co_return resp;
  }
  group::sync_input in;
  in.group_id = req.group_id;
  in.generation = req.generation_id;
  in.member_id = req.member_id;
  in.instance_id = ctx.version() >= 3 ? req.group_instance_id : std::nullopt;
  if (ctx.version() >= 5) {
    in.protocol_type = req.protocol_type;
    in.protocol_name = req.protocol_name;
  }
  for (auto& a : req.assignments) in.assignments.emplace_back(a.member_id, std::move(a.assignment));
  group::sync_output out = co_await groups.sync(std::move(in));
  resp.error_code = code(out.error);
  resp.protocol_type = out.protocol_type;
  resp.protocol_name = out.protocol_name;
  resp.assignment = std::move(out.assignment);
  co_return resp;
}

}  // namespace

api_route sync_group_route() { return make_route<req_t, resp_t, &handle, 0, 5>("SyncGroup"); }

}  // namespace gregor::server
