// TxnOffsetCommit (key 28): a transactional producer commits a consumer group's offsets as part of
// its transaction (Java sendOffsetsToTransaction, librdkafka send_offsets_to_transaction, franz-go
// GroupTransactSession). v2: committed leader epoch. v3: generation id, member id and group
// instance id (KIP-447), checked against the group when given; flexible. v4: TRANSACTION_ABORTABLE
// may be answered (KIP-890). v5: same as v4 (transactions v2: the group's offsets partition is
// added to the transaction implicitly).
//
// As Kafka's KafkaApis + GroupCoordinatorService: unknown topics and partitions answer
// UNKNOWN_TOPIC_OR_PARTITION per partition; the rest get the group's error (INVALID_GROUP_ID,
// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, the transaction check, then ILLEGAL_GENERATION /
// UNKNOWN_MEMBER_ID / FENCED_INSTANCE_ID) or, per partition, OFFSET_METADATA_TOO_LARGE; the others
// are appended as one transactional batch to the group's __consumer_offsets partition and answered
// once it is committed there. They stay invisible to OffsetFetch until the transaction's COMMIT
// marker reaches that partition (group_service::txn_marker_appended).
#include "gregor/protocol/messages/txn_offset_commit.h"
#include "../group_service.h"
#include "../txn_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::txn_offset_commit_request;
using resp_t = protocol::txn_offset_commit_response;
using protocol::error_code;

// The transaction coordinator's check of a TxnOffsetCommit: the producer id and epoch must be the
// transactional id's current ones (INVALID_PRODUCER_EPOCH / PRODUCER_FENCED, mapped per version as
// Kafka does), and the group's offsets partition must have been added to the ongoing transaction
// with AddOffsetsToTxn (v0-v4; v5 adds it implicitly under transactions v2), else
// INVALID_TXN_STATE (TRANSACTION_ABORTABLE from v4).
// Kafka's group coordinator asks the transaction coordinator (AddPartitionsToTxn, VerifyOnly
// below v5, an implicit add from v5) through the same path as a partition leader verifying a
// transactional Produce (txn_service::verify_produce). A coordinator that cannot answer now is
// COORDINATOR_NOT_AVAILABLE, which the client retries after looking the coordinator up again.
boost::asio::awaitable<error_code> verify_txn_offset_commit(core& c, const req_t& req, int16_t version) {
  const topic_runtime* offsets = c.topic(std::string(offsets_topic));
  if (!offsets) co_return error_code::coordinator_not_available;
  topic_partition tp{std::string(offsets_topic),
                     partition_id{group::offsets_partition_for(req.group_id, offsets->partition_count)}};
  std::string txn_id = req.transactional_id;
  const error_code e = co_await c.transaction_service().verify_produce(std::move(txn_id), std::move(tp), req.producer_id,
                                                                       req.producer_epoch, version >= 5);
  switch (e) {
    case error_code::none:
      co_return e;
    case error_code::not_coordinator:
    case error_code::coordinator_not_available:
    case error_code::coordinator_load_in_progress:
    case error_code::concurrent_transactions:
      co_return error_code::coordinator_not_available;
    case error_code::producer_fenced:
    case error_code::invalid_producer_epoch:
      co_return version >= 2 ? error_code::producer_fenced : error_code::invalid_producer_epoch;
    case error_code::invalid_txn_state:
    case error_code::transaction_abortable:
      co_return version >= 4 ? error_code::transaction_abortable : error_code::invalid_txn_state;
    default:
      co_return e;
  }
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  const int16_t version = ctx.version();
  // Write on the transactional id, then Read on the group: a refusal answers every partition.
  error_code denied = error_code::none;
  if (!transactional_id_authorized(ctx, acl_op::write, req.transactional_id))
    denied = error_code::transactional_id_authorization_failed;
  else if (!group_authorized(ctx, acl_op::read, req.group_id))
    denied = error_code::group_authorization_failed;
  if (denied != error_code::none) {
    for (const auto& t : req.topics) {
      auto& tout = resp.topics.emplace_back();
      tout.name = t.name;
      for (const auto& p : t.partitions) {
        auto& pout = tout.partitions.emplace_back();
        pout.partition_index = p.partition_index;
        pout.error_code = code(denied);
      }
    }
    co_return resp;
  }
  group_service& groups = *co_await c.groups();
  // Shape the answer like the request; `pending` lists the partitions still to be decided.
  std::vector<std::pair<size_t, size_t>> pending;
  for (size_t ti = 0; ti < req.topics.size(); ++ti) {
    const auto& t = req.topics[ti];
    auto& tout = resp.topics.emplace_back();
    tout.name = t.name;
    const topic_runtime* rt = c.topic(t.name);
    for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
      const int32_t index = t.partitions[pi].partition_index;
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = index;
      if (!topic_authorized(ctx, acl_op::read, t.name)) {  // before existence, as Kafka
        pout.error_code = code(error_code::topic_authorization_failed);
        continue;
      }
      if (!rt || index < 0 || index >= rt->partition_count) {
        pout.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      pending.emplace_back(ti, pi);
    }
  }
  auto fail = [&](error_code e, const std::vector<std::pair<size_t, size_t>>& which) {
    for (auto [ti, pi] : which) resp.topics[ti].partitions[pi].error_code = code(e);
  };
  if (pending.empty()) co_return resp;

  error_code e = groups.check_group(req.group_id);
  if (e == error_code::none) e = co_await verify_txn_offset_commit(c, req, version);
  if (e == error_code::none) {
    // v0-v2 carry no generation, member or instance: the defaults (-1, "", null) pass.
    const int32_t generation = version >= 3 ? req.generation_id : -1;
    const std::string member_id = version >= 3 ? req.member_id : std::string();
    const std::optional<std::string> instance_id = version >= 3 ? req.group_instance_id : std::nullopt;
    if (groups.consumer_groups().has_group(req.group_id))
      e = groups.consumer_groups().validate_txn_commit(req.group_id, member_id, instance_id, generation);
    else
      e = groups.coordinator().validate_txn_commit(req.group_id, generation, member_id, instance_id);
  }
  if (e != error_code::none) {
    fail(e, pending);
    co_return resp;
  }

  group_service::offset_writes writes;
  std::vector<std::pair<size_t, size_t>> written;
  const int64_t now = c.clk().now_ms();
  for (auto [ti, pi] : pending) {
    const auto& t = req.topics[ti];
    const auto& p = t.partitions[pi];
    if (p.committed_metadata && int64_t(p.committed_metadata->size()) > c.config().offset_metadata_max_bytes) {
      resp.topics[ti].partitions[pi].error_code = code(error_code::offset_metadata_too_large);
      continue;
    }
    group::committed_offset o;
    o.offset = p.committed_offset;
    o.leader_epoch = version >= 2 ? p.committed_leader_epoch : -1;
    o.metadata = p.committed_metadata.value_or("");
    o.commit_timestamp_ms = now;
    writes.emplace_back(topic_partition{t.name, partition_id{p.partition_index}}, std::move(o));
    written.emplace_back(ti, pi);
  }
  if (writes.empty()) co_return resp;
  const std::string group_id = req.group_id;
  const error_code we = co_await groups.txn_offset_commit(group_id, req.producer_id, req.producer_epoch, std::move(writes));
  fail(we, written);
  co_return resp;
}

}  // namespace

api_route txn_offset_commit_route() { return make_route<req_t, resp_t, &handle, 0, 5>("TxnOffsetCommit"); }

}  // namespace gregor::server
