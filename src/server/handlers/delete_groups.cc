// DeleteGroups (key 42). v1: throttle time. v2: flexible. v3: per-group error messages.
// Only Empty groups can be deleted (NON_EMPTY_GROUP otherwise, GROUP_ID_NOT_FOUND when unknown);
// their offsets and metadata are tombstoned in __consumer_offsets before the answer.
#include "gregor/protocol/messages/delete_groups.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::delete_groups_request;
using resp_t = protocol::delete_groups_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  group_service& groups = *co_await c.groups();
  for (const auto& id : req.groups_names) {
    auto& out = resp.results.emplace_back();
    out.group_id = id;
    error_code e = group_authorized(ctx, acl_op::del, id) ? groups.check_group(id) : error_code::group_authorization_failed;
    if (e == error_code::none && groups.consumer_groups().has_group(id)) {
      e = groups.consumer_groups().delete_group(id);
      if (e == error_code::none) e = groups.flush_consumer_groups();  // the group's tombstones
      if (e == error_code::none && !groups.coordinator().has_group(id)) {
        out.error_code = 0;
        continue;
      }
    }
    if (e == error_code::none) {
      auto state = groups.coordinator().state_of(id);
      if (!state || *state == group::group_state::dead) e = error_code::group_id_not_found;
      else if (*state != group::group_state::empty) e = error_code::non_empty_group;
    }
    if (e == error_code::none) {
      // Offsets first (tombstones), then the group itself.
      std::vector<std::pair<topic_partition, std::optional<group::committed_offset>>> tombstones;
      const auto committed = groups.coordinator().offsets_of(id);
      for (const auto& [tp, o] : committed) tombstones.emplace_back(tp, std::nullopt);
      // Partitions with only pending transactional offsets too (Kafka's deleteAllOffsets).
      for (const auto& tp : groups.coordinator().pending_txn_partitions(id))
        if (!committed.count(tp)) tombstones.emplace_back(tp, std::nullopt);
      e = co_await groups.commit_offsets(id, std::move(tombstones));
      if (e == error_code::none) {
        std::vector<topic_partition> ignored;
        e = groups.coordinator().delete_group(id, &ignored);
        groups.flush();
      }
    }
    out.error_code = code(e);
    if (e != error_code::none && ctx.version() >= 3) {
      if (e == error_code::group_id_not_found) out.error_message = "Group " + id + " not found.";
      else if (e == error_code::non_empty_group) out.error_message = "Group " + id + " is not empty.";
    }
  }
  co_return resp;
}

}  // namespace

api_route delete_groups_route() { return make_route<req_t, resp_t, &handle, 0, 3>("DeleteGroups"); }

}  // namespace gregor::server
