// OffsetCommit (key 8). v2-4: retention time (ignored, as Kafka 2.1+ does). v3: throttle time.
// v6: committed leader epoch. v7: group instance id. v8: flexible. v9: member epoch for
// consumer-protocol groups (the same field as the classic generation). v10: topic ids.
// Generation -1 with no member id is a "simple" commit (assign() consumers, admin resets):
// allowed while the group is Empty or does not exist. Offsets are appended to the group's
// __consumer_offsets partition before the answer is sent.
#include "gregor/protocol/messages/offset_commit.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::offset_commit_request;
using resp_t = protocol::offset_commit_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  group_service& groups = *co_await c.groups();
  const bool by_id = ctx.version() >= 10;
  // Shape the answer like the request; fill errors below.
  for (const auto& t : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.name = t.name;
    tout.topic_id = t.topic_id;
    for (const auto& p : t.partitions) tout.partitions.emplace_back().partition_index = p.partition_index;
  }
  auto fail_all = [&](error_code e) {
    for (auto& t : resp.topics)
      for (auto& p : t.partitions) p.error_code = code(e);
  };
  if (!group_authorized(ctx, acl_op::read, req.group_id)) {
    fail_all(error_code::group_authorization_failed);
    co_return resp;
  }
  // Kafka 4.x accepts the empty group id here (for backwards compatibility): a "simple" commit.
  error_code e = groups.check_coordinator(req.group_id);
  if (e == error_code::none && groups.consumer_groups().has_group(req.group_id))
    e = groups.consumer_groups().validate_commit(req.group_id, req.member_id,
                                                 req.generation_id_or_member_epoch);
  else if (e == error_code::none)
    e = groups.coordinator().validate_commit(
        req.group_id, req.generation_id_or_member_epoch, req.member_id,
        ctx.version() >= 7 ? req.group_instance_id : std::nullopt);
  if (e != error_code::none) {
    fail_all(e);
    co_return resp;
  }
  std::vector<std::pair<topic_partition, std::optional<group::committed_offset>>> writes;
  std::vector<std::pair<size_t, size_t>> written;  // (topic, partition) indexes in resp
  const int64_t now = c.clk().now_ms();
  for (size_t ti = 0; ti < req.topics.size(); ++ti) {
    const auto& t = req.topics[ti];
    std::string name = t.name;
    const topic_runtime* rt = by_id ? c.topic(t.topic_id, &name) : c.topic(t.name);
    // Read on the topic, checked before its existence (an unknown topic the principal may not
    // read answers TOPIC_AUTHORIZATION_FAILED, as Kafka).
    const bool topic_ok = (by_id && !rt) || topic_authorized(ctx, acl_op::read, name);
    for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
      const auto& p = t.partitions[pi];
      auto& pout = resp.topics[ti].partitions[pi];
      if (!topic_ok) {
        pout.error_code = code(error_code::topic_authorization_failed);
        continue;
      }
      if (!rt) {
        pout.error_code = code(by_id ? error_code::unknown_topic_id : error_code::unknown_topic_or_partition);
        continue;
      }
      if (p.partition_index < 0 || p.partition_index >= rt->partition_count) {
        pout.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      if (p.committed_metadata && int64_t(p.committed_metadata->size()) > c.config().offset_metadata_max_bytes) {
        pout.error_code = code(error_code::offset_metadata_too_large);
        continue;
      }
      group::committed_offset o;
      o.offset = p.committed_offset;
      o.leader_epoch = ctx.version() >= 6 ? p.committed_leader_epoch : -1;
      o.metadata = p.committed_metadata.value_or("");
      o.commit_timestamp_ms = now;
      writes.emplace_back(topic_partition{name, partition_id{p.partition_index}}, std::move(o));
      written.emplace_back(ti, pi);
    }
  }
  const error_code we = co_await groups.commit_offsets(req.group_id, std::move(writes));
  for (auto [ti, pi] : written) resp.topics[ti].partitions[pi].error_code = code(we);
  co_return resp;
}

}  // namespace

api_route offset_commit_route() { return make_route<req_t, resp_t, &handle, 2, 10>("OffsetCommit"); }

}  // namespace gregor::server
