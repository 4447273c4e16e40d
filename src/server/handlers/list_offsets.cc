// ListOffsets (key 2). v1 (our minimum, as Kafka 4's): one offset and its timestamp. v2: isolation level. v4: current leader epoch, leader epoch in the answer. v6:
// flexible. v7: MAX_TIMESTAMP (-3). v8: EARLIEST_LOCAL (-4). v9: LATEST_TIERED (-5). v10: timeout. v11: EARLIEST_PENDING_UPLOAD (-6).
// Special timestamps: -1 latest (high watermark, or last stable offset for read_committed), -2
// earliest (log start offset), -3 the record with the largest timestamp, -4 earliest local (= -2
// without tiered storage), -5 latest tiered and -6 earliest pending upload (none: -1).
// ReplicaId, as Kafka reads it: -1 is a consumer (latest = high watermark or last stable offset);
// any other id reads up to the log end offset, and the debugging id -2 may ask any replica of this
// broker, leader or follower (`gregor topic describe` uses it for each replica's lag).
#include "gregor/protocol/messages/list_offsets.h"
#include "handlers.h"
#include "../idempotence.h"

namespace gregor::server {
namespace {
using req_t = protocol::list_offsets_request;
using resp_t = protocol::list_offsets_response;
using protocol::error_code;

constexpr int64_t latest_timestamp = -1;
constexpr int64_t earliest_timestamp = -2;
constexpr int64_t max_timestamp = -3;
constexpr int64_t earliest_local_timestamp = -4;
constexpr int64_t latest_tiered_timestamp = -5;
constexpr int64_t earliest_pending_upload_timestamp = -6;
constexpr int32_t consumer_replica_id = -1;
constexpr int32_t debugging_replica_id = -2;

// The replica that answers: the leader, or for the debugging replica id any replica hosted here,
// with Kafka's checks of the caller's leader epoch.
result<replication::partition*, error_code> replica_for(core& c, const topic_partition& tp, int32_t replica_id,
                                                        int32_t current_leader_epoch) {
  if (replica_id != debugging_replica_id) return c.leader_partition(tp, current_leader_epoch);
  const topic_runtime* t = c.topic(tp.topic);
  replication::partition* p = t ? c.partition(tp) : nullptr;
  if (!p)
    return failure{t && tp.partition.value() >= 0 && tp.partition.value() < t->partition_count
                       ? error_code::not_leader_or_follower
                       : error_code::unknown_topic_or_partition};
  if (current_leader_epoch >= 0 && current_leader_epoch != p->epoch().value())
    return failure{current_leader_epoch < p->epoch().value() ? error_code::fenced_leader_epoch
                                                             : error_code::unknown_leader_epoch};
  return p;
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  const bool read_committed = req.isolation_level == 1;
  for (const auto& topic : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.name = topic.name;
    const bool may_describe = topic_authorized(ctx, acl_op::describe, topic.name);  // before existence
    for (const auto& part : topic.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = part.partition_index;
      pout.timestamp = -1;
      pout.offset = -1;
      if (!may_describe) {
        pout.error_code = code(error_code::topic_authorization_failed);
        continue;
      }
      auto replica = replica_for(c, topic_partition{topic.name, partition_id{part.partition_index}}, req.replica_id,
                                 part.current_leader_epoch);
      if (!replica) {
        pout.error_code = code(replica.error());
        continue;
      }
      if (part.timestamp == max_timestamp && ctx.version() < 7) {
        // -3 exists from v7 (KIP-734): Kafka answers UNSUPPORTED_VERSION below it.
        pout.error_code = code(error_code::unsupported_version);
        continue;
      }
      replication::partition* p = *replica;
      pout.leader_epoch = p->epoch().value();
      const offset latest = req.replica_id != consumer_replica_id ? p->log().log_end_offset()
                            : read_committed                      ? c.producers().last_stable_offset(*p)
                                                                  : p->high_watermark();
      std::optional<int64_t> found_offset;
      int64_t found_ts = -1;
      switch (part.timestamp) {
        case latest_timestamp: found_offset = latest.value(); break;
        case earliest_timestamp:
        case earliest_local_timestamp: found_offset = p->log().log_start_offset().value(); break;
        case latest_tiered_timestamp:
        case earliest_pending_upload_timestamp: found_offset = -1; break;
        case max_timestamp: {
          if (auto m = p->log().max_timestamp(); m && m->found < latest) {
            found_offset = m->found.value();
            found_ts = m->timestamp;
          }
          break;
        }
        default: {
          if (part.timestamp < 0) {
            pout.error_code = code(error_code::invalid_request);
            continue;
          }
          if (auto m = p->log().offset_for_timestamp(part.timestamp); m && m->found < latest) {
            found_offset = m->found.value();
            found_ts = m->timestamp;
          }
          break;
        }
      }
      pout.error_code = 0;
      pout.offset = found_offset.value_or(-1);
      pout.timestamp = found_ts;
      if (!found_offset || *found_offset < 0) pout.leader_epoch = -1;
    }
  }
  co_return resp;
}

}  // namespace

api_route list_offsets_route() { return make_route<req_t, resp_t, &handle, 1, 11>("ListOffsets"); }

}  // namespace gregor::server
