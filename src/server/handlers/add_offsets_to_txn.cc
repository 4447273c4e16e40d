// AddOffsetsToTxn (key 25): adds the group's __consumer_offsets partition to the producer's
// transaction, before TxnOffsetCommit (sendOffsetsToTransaction). v1: no wire change. v2:
// PRODUCER_FENCED instead of INVALID_PRODUCER_EPOCH. v3: flexible. v4: no wire change (KIP-890).
#include "gregor/group/group_coordinator.h"
#include "gregor/protocol/messages/add_offsets_to_txn.h"
#include "../group_service.h"
#include "../txn_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::add_offsets_to_txn_request;
using resp_t = protocol::add_offsets_to_txn_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  if (!transactional_id_authorized(ctx, acl_op::write, req.transactional_id)) {
    resp.error_code = code(error_code::transactional_id_authorization_failed);
    co_return resp;
  }
  if (!group_authorized(ctx, acl_op::read, req.group_id)) {
    resp.error_code = code(error_code::group_authorization_failed);
    co_return resp;
  }
  txn_service& txns = *co_await c.transactions();
  // The offsets topic must exist to name the group's partition.
  co_await c.groups();
  error_code e = txns.check_coordinator(req.transactional_id);
  const topic_runtime* offsets = c.topic(std::string(offsets_topic));
  if (e == error_code::none && !offsets) e = error_code::coordinator_not_available;
  if (e == error_code::none) {
    txn::add_input in;
    in.transactional_id = req.transactional_id;
    in.producer_id = req.producer_id;
    in.producer_epoch = req.producer_epoch;
    in.partitions[std::string(offsets_topic)].insert(
        group::offsets_partition_for(req.group_id, offsets->partition_count));
    in.client_transaction_version = ctx.version() >= 4 ? 2 : 1;
    auto r = co_await txns.add_partitions(std::move(in));
    e = r.error;
  }
  if (e == error_code::producer_fenced && ctx.version() < 2) e = error_code::invalid_producer_epoch;
  resp.error_code = code(e);
  co_return resp;
}

}  // namespace

api_route add_offsets_to_txn_route() { return make_route<req_t, resp_t, &handle, 0, 4>("AddOffsetsToTxn"); }

}  // namespace gregor::server
