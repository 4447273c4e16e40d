// DeleteRecords (key 21). v1: no change. v2: flexible.
// Moves each partition's log start offset up to the requested offset (-1 = the high watermark);
// whole segments below it are deleted at once, reads below it answer OFFSET_OUT_OF_RANGE and
// ListOffsets earliest returns it. Errors per partition, as Kafka: unknown partition, not leader,
// offset above the high watermark (OFFSET_OUT_OF_RANGE), a topic without "delete" in its
// cleanup.policy (POLICY_VIOLATION), I/O (KAFKA_STORAGE_ERROR).
#include "gregor/base/log.h"
#include "gregor/protocol/messages/delete_records.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::delete_records_request;
using resp_t = protocol::delete_records_response;
using protocol::error_code;

constexpr int64_t high_watermark_offset = -1;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  bool moved = false;
  for (const auto& topic : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.name = topic.name;
    const topic_runtime* rt = c.topic(topic.name);
    const bool may_delete = topic_authorized(ctx, acl_op::del, topic.name);  // before existence, as Kafka
    for (const auto& part : topic.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = part.partition_index;
      pout.low_watermark = -1;
      if (!may_delete) {
        pout.error_code = code(error_code::topic_authorization_failed);
        continue;
      }
      auto leader = c.leader_partition(topic_partition{topic.name, partition_id{part.partition_index}});
      if (!leader) {
        pout.error_code = code(leader.error());
        continue;
      }
      replication::partition* p = *leader;
      if (!rt->settings.delete_enabled()) {
        pout.error_code = code(error_code::policy_violation);
        continue;
      }
      const int64_t hw = p->high_watermark().value();
      const int64_t target = part.offset == high_watermark_offset ? hw : part.offset;
      if (target < 0 || target > hw) {
        pout.error_code = code(error_code::offset_out_of_range);
        continue;
      }
      auto r = p->log().advance_log_start_offset(offset(target), c.clk().now_ms());
      if (!r) {
        log::get("server").error("DeleteRecords {}-{}: {}", topic.name, part.partition_index,
                                 r.error().message);
        pout.error_code = code(r.error().code == storage::storage_errc::offset_out_of_range
                                   ? error_code::offset_out_of_range
                                   : error_code::kafka_storage_error);
        continue;
      }
      pout.error_code = 0;
      pout.low_watermark = r->value();
      moved = true;
    }
  }
  if (moved) {
    // The new log start offsets survive a crash from here on.
    if (auto cp = c.logs().checkpoint(); !cp)
      log::get("server").error("DeleteRecords: checkpoint failed: {}", cp.error().message);
  }
  co_return resp;
}

}  // namespace

api_route delete_records_route() {
  return make_route<req_t, resp_t, &handle, 0, 2>("DeleteRecords");
}

}  // namespace gregor::server
