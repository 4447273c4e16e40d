// DescribeGroups (key 15). v1: throttle time. v3: authorized operations. v4: group instance id.
// v5: flexible. v6: an unknown group answers GROUP_ID_NOT_FOUND with a message (before: NONE and
// state "Dead"). Member metadata is the subscription for the chosen protocol; the assignment is
// only reported while the group is Stable.
#include <limits>

#include "gregor/protocol/messages/describe_groups.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::describe_groups_request;
using resp_t = protocol::describe_groups_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  group_service& groups = *co_await c.groups();
  for (const auto& id : req.groups) {
    auto& out = resp.groups.emplace_back();
    out.group_id = id;
    if (!group_authorized(ctx, acl_op::describe, id)) {
      out.error_code = code(error_code::group_authorization_failed);
      out.group_state = "";
      out.protocol_type = "";
      out.protocol_data = "";
      continue;
    }
    if (auto e = groups.check_coordinator(id); e != error_code::none) {
      out.error_code = code(e);
      continue;
    }
    // The operations the principal may perform on the group, for groups described without error.
    if (req.include_authorized_operations)
      out.authorized_operations = authorized_operations(ctx, security::resource_type::group, id);
    group::group_description d = groups.coordinator().describe(id);
    if (d.error == error_code::group_id_not_found) {
      out.group_state = "Dead";
      if (ctx.version() >= 6) {
        out.authorized_operations = std::numeric_limits<int32_t>::min();
        out.error_code = code(d.error);
        out.error_message = "Group " + id + " not found.";
      }
      continue;
    }
    out.group_state = std::string(group::state_name(d.state));
    out.protocol_type = d.protocol_type;
    out.protocol_data = d.protocol_data;
    for (auto& m : d.members) {
      auto& mo = out.members.emplace_back();
      mo.member_id = m.member_id;
      mo.group_instance_id = m.instance_id;
      mo.client_id = m.client_id;
      mo.client_host = m.client_host;
      mo.member_metadata = std::move(m.metadata);
      mo.member_assignment = std::move(m.assignment);
    }
  }
  co_return resp;
}

}  // namespace

api_route describe_groups_route() { return make_route<req_t, resp_t, &handle, 0, 6>("DescribeGroups"); }

}  // namespace gregor::server
