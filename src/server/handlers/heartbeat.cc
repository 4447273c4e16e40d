// Heartbeat (key 12). v1: throttle time. v3: group instance id. v4: flexible.
// Keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
#include "gregor/protocol/messages/heartbeat.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::heartbeat_request;
using resp_t = protocol::heartbeat_response;
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
  resp.error_code = code(groups.coordinator().heartbeat(
      req.group_id, req.member_id, ctx.version() >= 3 ? req.group_instance_id : std::nullopt,
      req.generation_id));
  groups.flush();
  co_return resp;
}

}  // namespace

api_route heartbeat_route() { return make_route<req_t, resp_t, &handle, 0, 4>("Heartbeat"); }

}  // namespace gregor::server
