// OffsetDelete (key 47, v0 only). Deletes committed offsets of a group: the group must exist
// (GROUP_ID_NOT_FOUND); a partition of a topic the live group is subscribed to answers
// GROUP_SUBSCRIBED_TO_TOPIC. Deletions are written as tombstones before the answer.
#include "gregor/protocol/messages/offset_delete.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::offset_delete_request;
using resp_t = protocol::offset_delete_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  if (!group_authorized(ctx, acl_op::del, req.group_id)) {
    resp.error_code = code(error_code::group_authorization_failed);
    co_return resp;
  }
  group_service& groups = *co_await c.groups();
  error_code e = groups.check_group(req.group_id);
  if (e == error_code::none) e = groups.coordinator().check_offset_delete(req.group_id);
  if (e != error_code::none) {
    resp.error_code = code(e);
    co_return resp;
  }
  std::vector<std::pair<topic_partition, std::optional<group::committed_offset>>> tombstones;
  std::vector<std::pair<size_t, size_t>> written;
  for (size_t ti = 0; ti < req.topics.size(); ++ti) {
    const auto& t = req.topics[ti];
    auto& tout = resp.topics.emplace_back();
    tout.name = t.name;
    const topic_runtime* rt = c.topic(t.name);
    const bool topic_ok = topic_authorized(ctx, acl_op::read, t.name);  // before existence, as Kafka
    const bool subscribed = groups.coordinator().subscribed(req.group_id, t.name) ||
                            groups.consumer_groups().subscribed(req.group_id, t.name);
    for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = t.partitions[pi].partition_index;
      if (!topic_ok) {
        pout.error_code = code(error_code::topic_authorization_failed);
        continue;
      }
      if (!rt || pout.partition_index < 0 || pout.partition_index >= rt->partition_count) {
        pout.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      if (subscribed) {
        pout.error_code = code(error_code::group_subscribed_to_topic);
        continue;
      }
      topic_partition tp{t.name, partition_id{pout.partition_index}};
      // A tombstone when an offset is committed or pending in a transaction (Kafka's deleteOffsets).
      if (!groups.coordinator().offset_of(req.group_id, tp) && !groups.coordinator().has_pending_txn_offset(req.group_id, tp))
        continue;
      tombstones.emplace_back(tp, std::nullopt);
      written.emplace_back(ti, pi);
    }
  }
  const error_code we = co_await groups.commit_offsets(req.group_id, std::move(tombstones));
  for (auto [ti, pi] : written) resp.topics[ti].partitions[pi].error_code = code(we);
  co_return resp;
}

}  // namespace

api_route offset_delete_route() { return make_route<req_t, resp_t, &handle, 0, 0>("OffsetDelete"); }

}  // namespace gregor::server
