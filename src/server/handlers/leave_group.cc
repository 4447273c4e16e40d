// LeaveGroup (key 13). v1: throttle time. v3: batched members (member id and/or group instance
// id each, per-member errors). v4: flexible. v5: reason.
#include "gregor/protocol/messages/leave_group.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::leave_group_request;
using resp_t = protocol::leave_group_response;
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
  std::vector<group::leave_member> members;
  if (ctx.version() >= 3) {
    for (const auto& m : req.members) members.push_back({m.member_id, m.group_instance_id});
  } else {
    members.push_back({req.member_id, std::nullopt});
  }
  error_code group_error = error_code::none;
  auto errors = groups.coordinator().leave(req.group_id, members, &group_error);
  groups.flush();
  // Answered once the offsets partition has committed what the departure wrote.
  if (const error_code committed = co_await groups.await_committed(req.group_id); committed != error_code::none) {
    resp.error_code = code(committed);
    co_return resp;
  }
  if (group_error != error_code::none) {
    resp.error_code = code(group_error);
    co_return resp;
  }
  if (ctx.version() >= 3) {
    for (size_t i = 0; i < req.members.size(); ++i) {
      auto& out = resp.members.emplace_back();
      out.member_id = req.members[i].member_id;
      out.group_instance_id = req.members[i].group_instance_id;
      out.error_code = code(errors.at(i));
    }
  } else {
    resp.error_code = code(errors.at(0));
  }
  co_return resp;
}

}  // namespace

api_route leave_group_route() { return make_route<req_t, resp_t, &handle, 0, 5>("LeaveGroup"); }

}  // namespace gregor::server
