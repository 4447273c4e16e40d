// WriteTxnMarkers (key 27): a transaction coordinator asks this broker, as leader, to write
// COMMIT/ABORT control batches for a producer into partitions. Each partition is answered once its
// marker is replicated (the high watermark covers it, as Kafka appends markers with acks=all):
// NOT_LEADER_OR_FOLLOWER / UNKNOWN_TOPIC_OR_PARTITION (the coordinator retries elsewhere),
// INVALID_PRODUCER_EPOCH / TRANSACTION_COORDINATOR_FENCED (a stale coordinator). v1: flexible
// (Kafka 4 serves v1+). v2: the transaction version (informational here).
#include "gregor/protocol/messages/write_txn_markers.h"
#include "../txn_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::write_txn_markers_request;
using resp_t = protocol::write_txn_markers_response;
using protocol::error_code;

// The answer: every partition of the request, in order, with its result (`results[i]` for the
// i-th partition; UNKNOWN_SERVER_ERROR past the end).
resp_t answer(const req_t& req, const std::vector<error_code>& results) {
  resp_t resp;
  size_t i = 0;
  for (const auto& m : req.markers) {
    auto& mout = resp.markers.emplace_back();
    mout.producer_id = m.producer_id;
    for (const auto& t : m.topics) {
      auto& tout = mout.topics.emplace_back();
      tout.name = t.name;
      for (int32_t p : t.partition_indexes) {
        auto& pout = tout.partitions.emplace_back();
        pout.partition_index = p;
        pout.error_code = code(i < results.size() ? results[i] : error_code::unknown_server_error);
        ++i;
      }
    }
  }
  return resp;
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  std::vector<txn_service::marker_write> writes;
  for (const auto& m : req.markers)
    for (const auto& t : m.topics)
      for (int32_t p : t.partition_indexes)
        writes.push_back(txn_service::marker_write{topic_partition{t.name, partition_id{p}}, m.producer_id,
                                                   m.producer_epoch, m.transaction_result, m.coordinator_epoch});
  // Only brokers write markers (ClusterAction on the cluster).
  if (!cluster_authorized(ctx, acl_op::cluster_action))
    co_return answer(req, std::vector<error_code>(writes.size(), error_code::cluster_authorization_failed));
  // A marker needs a producer: Kafka's append of a control batch for producer id -1 fails
  // (UNKNOWN_SERVER_ERROR) and writes nothing; the others are written.
  std::vector<size_t> valid;
  std::vector<txn_service::marker_write> to_write;
  for (size_t i = 0; i < writes.size(); ++i)
    if (writes[i].producer_id >= 0) {
      valid.push_back(i);
      to_write.push_back(std::move(writes[i]));
    }
  std::vector<error_code> results(writes.size(), error_code::unknown_server_error);
  if (!to_write.empty()) {
    txn_service& txns = c.transaction_service();
    auto written = co_await txns.write_markers(std::move(to_write));
    for (size_t j = 0; j < valid.size(); ++j)
      results[valid[j]] = j < written.size() ? written[j] : error_code::unknown_server_error;
  }
  co_return answer(req, results);
}

}  // namespace

api_route write_txn_markers_route() { return make_route<req_t, resp_t, &handle, 1, 2>("WriteTxnMarkers"); }

}  // namespace gregor::server
