// OffsetForLeaderEpoch (key 23, v2-4): for each partition, the end offset of the requested leader
// epoch in the leader's log (the start offset of the next larger epoch, or the log end offset for
// the current one) and the largest epoch at or below it. Consumers (librdkafka, the Java client)
// ask it after a leader change to detect log truncation; followers use the diverging epoch in
// Fetch instead. Served only by the partition's leader; CurrentLeaderEpoch is checked as in Fetch
// (FENCED_LEADER_EPOCH when the client is behind, UNKNOWN_LEADER_EPOCH when ahead).
#include "gregor/protocol/messages/offset_for_leader_epoch.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::offset_for_leader_epoch_request;
using resp_t = protocol::offset_for_leader_epoch_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  // Brokers (ClusterAction) may ask about any partition; clients need Describe on the topic.
  const bool broker = cluster_authorized(ctx, acl_op::cluster_action);
  for (const auto& t : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.topic = t.topic;
    const bool may_describe = broker || topic_authorized(ctx, acl_op::describe, t.topic);
    for (const auto& p : t.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition = p.partition;
      if (!may_describe) {
        pout.error_code = code(error_code::topic_authorization_failed);
        continue;
      }
      topic_partition tp{t.topic, partition_id{p.partition}};
      auto leader = c.leader_partition(tp, p.current_leader_epoch);
      if (!leader) {
        pout.error_code = code(leader.error());
        continue;
      }
      const auto eo = (*leader)->end_offset_for_epoch(leader_epoch(p.leader_epoch));
      pout.leader_epoch = eo.epoch.value();
      pout.end_offset = eo.end_offset.value();
    }
  }
  co_return resp;
}

}  // namespace

api_route offset_for_leader_epoch_route() {
  return make_route<req_t, resp_t, &handle, 2, 4>("OffsetForLeaderEpoch");
}

}  // namespace gregor::server
