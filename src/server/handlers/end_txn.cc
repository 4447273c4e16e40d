// EndTxn (key 26): commits or aborts the producer's transaction. The coordinator answers once the
// PrepareCommit/PrepareAbort state is committed to __transaction_state; the markers follow. v1: no
// wire change. v2: PRODUCER_FENCED instead of INVALID_PRODUCER_EPOCH. v3: flexible. v4: no wire
// change. v5: transaction version 2 (the epoch is bumped at every end; the answer names the
// producer id and epoch to continue with).
#include "gregor/protocol/messages/end_txn.h"
#include "../txn_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::end_txn_request;
using resp_t = protocol::end_txn_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  if (!transactional_id_authorized(ctx, acl_op::write, req.transactional_id)) {
    resp.error_code = code(error_code::transactional_id_authorization_failed);
    co_return resp;
  }
  txn_service& txns = *co_await c.transactions();
  error_code e = txns.check_coordinator(req.transactional_id);
  if (e == error_code::none) {
    txn::end_input in;
    in.transactional_id = req.transactional_id;
    in.producer_id = req.producer_id;
    in.producer_epoch = req.producer_epoch;
    in.commit = req.committed;
    in.client_transaction_version = ctx.version() >= 5 ? 2 : 1;
    auto r = co_await txns.end_txn(std::move(in));
    e = r.error;
    if (e == error_code::none) {
      resp.producer_id = r.producer_id;
      resp.producer_epoch = r.producer_epoch;
    }
  }
  if (e == error_code::producer_fenced && ctx.version() < 2) e = error_code::invalid_producer_epoch;
  resp.error_code = code(e);
  co_return resp;
}

}  // namespace

api_route end_txn_route() { return make_route<req_t, resp_t, &handle, 0, 5>("EndTxn"); }

}  // namespace gregor::server
