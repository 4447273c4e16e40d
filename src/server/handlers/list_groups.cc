// ListGroups (key 16). v1: throttle time. v3: flexible. v4: states filter (case-insensitive,
// empty = all). v5: types filter and group type in the answer ("classic" or "consumer").
#include <algorithm>

#include "gregor/protocol/messages/list_groups.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::list_groups_request;
using resp_t = protocol::list_groups_response;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool matches(const std::vector<std::string>& filter, std::string_view value) {
  if (filter.empty()) return true;
  return std::any_of(filter.begin(), filter.end(), [&](const std::string& f) { return iequals(f, value); });
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  group_service& groups = *co_await c.groups();
  constexpr std::string_view type = "classic";
  // Describe on the cluster lists every group; otherwise only the groups the principal may
  // Describe (no error, as Kafka).
  const bool all = cluster_authorized(ctx, acl_op::describe);
  auto visible = [&](const std::string& id) { return all || group_authorized(ctx, acl_op::describe, id); };
  for (const auto& [id, state] : groups.consumer_groups().list()) {
    if (groups.check_coordinator(id) != protocol::error_code::none || !visible(id)) continue;
    if (!matches(req.states_filter, state) || !matches(req.types_filter, "consumer")) continue;
    auto& out = resp.groups.emplace_back();
    out.group_id = id;
    out.protocol_type = "consumer";
    out.group_state = state;
    out.group_type = "consumer";
  }
  for (const auto& g : groups.coordinator().list()) {
    if (groups.check_coordinator(g.group_id) != protocol::error_code::none || !visible(g.group_id)) continue;
    if (groups.consumer_groups().has_group(g.group_id)) continue;  // its offsets only
    const auto state = group::state_name(g.state);
    if (!matches(req.states_filter, state) || !matches(req.types_filter, type)) continue;
    auto& out = resp.groups.emplace_back();
    out.group_id = g.group_id;
    out.protocol_type = g.protocol_type;
    out.group_state = std::string(state);
    out.group_type = std::string(type);
  }
  co_return resp;
}

}  // namespace

api_route list_groups_route() { return make_route<req_t, resp_t, &handle, 0, 5>("ListGroups"); }

}  // namespace gregor::server
