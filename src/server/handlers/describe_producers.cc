// DescribeProducers (key 61, v0 only, flexible): the active idempotent producers of partitions
// this broker leads, for tooling (`kafka-transactions.sh describe-producers`). Transactions are
// not supported yet, so coordinator_epoch and current_txn_start_offset are always -1.
#include "gregor/protocol/messages/describe_producers.h"
#include "../idempotence.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::describe_producers_request;
using resp_t = protocol::describe_producers_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  for (const auto& t : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.name = t.name;
    const bool may_read = topic_authorized(ctx, acl_op::read, t.name);
    for (int32_t index : t.partition_indexes) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = index;
      if (!may_read) {
        pout.error_code = code(error_code::topic_authorization_failed);
        continue;
      }
      replication::partition* p =
          c.topic(t.name) ? c.partition(topic_partition{t.name, partition_id{index}}) : nullptr;
      if (!p) {
        pout.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      if (!p->is_leader()) {
        pout.error_code = code(error_code::not_leader_or_follower);
        continue;
      }
      const txn::producer_state* st = c.producers().state(*p);
      if (!st) {
        pout.error_code = code(error_code::kafka_storage_error);
        pout.error_message = "producer state of this partition cannot be loaded";
        continue;
      }
      for (const auto& [pid, e] : st->producers()) {
        auto& out = pout.active_producers.emplace_back();
        out.producer_id = pid.value();
        out.producer_epoch = e.epoch.value();
        out.last_sequence = e.last_sequence();
        out.last_timestamp = e.last_timestamp_ms;
        out.coordinator_epoch = e.coordinator_epoch;
        out.current_txn_start_offset = e.current_txn_first_offset ? e.current_txn_first_offset->value() : -1;
      }
    }
  }
  co_return resp;
}

}  // namespace

api_route describe_producers_route() {
  return make_route<req_t, resp_t, &handle, 0, 0>("DescribeProducers");
}

}  // namespace gregor::server
