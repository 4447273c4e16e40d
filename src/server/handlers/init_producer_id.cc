// InitProducerId (key 22). v1: no wire change. v2: flexible. v3: producer_id and producer_epoch in
// the request, so an idempotent producer can bump its epoch after an error (KIP-360). v4:
// PRODUCER_FENCED error. v5: no wire change (KIP-890). v6: enable_2pc and keep_prepared_txn
// (KIP-939).
//
// With a transactional id the transaction coordinator (txn_service) answers: NOT_COORDINATOR when
// this broker does not lead the id's __transaction_state partition, INVALID_TRANSACTION_TIMEOUT,
// CONCURRENT_TRANSACTIONS while a previous instance's transaction is being aborted (the client
// retries), PRODUCER_FENCED for a stale KIP-360 epoch. Two-phase commit (enable_2pc, KIP-939) is
// refused as Kafka refuses it unless transaction.two.phase.commit.enable is set.
#include "gregor/protocol/messages/init_producer_id.h"
#include "../idempotence.h"
#include "../txn_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::init_producer_id_request;
using resp_t = protocol::init_producer_id_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  resp.producer_id = no_producer_id.value();
  resp.producer_epoch = no_producer_epoch.value();
  // Write on the transactional id; an idempotent producer needs IdempotentWrite on the cluster or
  // Write on at least one topic (Kafka's authorizeByResourceType).
  if (req.transactional_id ? !transactional_id_authorized(ctx, acl_op::write, *req.transactional_id)
                           : !cluster_authorized(ctx, acl_op::idempotent_write) &&
                                 !authorized_on_any(ctx, acl_op::write, security::resource_type::topic)) {
    resp.error_code = code(req.transactional_id ? error_code::transactional_id_authorization_failed
                                                : error_code::cluster_authorization_failed);
    co_return resp;
  }
  if (req.enable2_pc) {
    resp.error_code = code(error_code::transactional_id_authorization_failed);
    co_return resp;
  }
  // An empty transactional id is a malformed request in Kafka, not an idempotent producer.
  if (req.transactional_id && req.transactional_id->empty()) {
    resp.error_code = code(error_code::invalid_request);
    co_return resp;
  }
  if (req.transactional_id) {
    txn_service& txns = *co_await c.transactions();
    txn::init_input in;
    in.transactional_id = *req.transactional_id;
    in.timeout_ms = req.transaction_timeout_ms;
    in.expected_producer_id = req.producer_id;
    in.expected_producer_epoch = req.producer_epoch;
    auto r = co_await txns.init_producer_id(std::move(in));
    resp.error_code = code(r.error);
    if (r.error == error_code::none) {
      resp.producer_id = r.producer_id;
      resp.producer_epoch = r.producer_epoch;
    }
    co_return resp;
  }
  auto np = co_await c.producers().init_producer_id(producer_id(req.producer_id),
                                           producer_epoch(req.producer_epoch));
  resp.error_code = code(np.error);
  if (np.error == error_code::none) {
    resp.producer_id = np.pid.value();
    resp.producer_epoch = np.epoch.value();
  }
  co_return resp;
}

}  // namespace

api_route init_producer_id_route() {
  return make_route<req_t, resp_t, &handle, 0, 6>("InitProducerId");
}

}  // namespace gregor::server
