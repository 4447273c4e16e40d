// DescribeTransactions (key 65, v0): the coordinator's state of each transactional id
// (kafka-transactions.sh describe). NOT_COORDINATOR for ids another broker coordinates,
// TRANSACTIONAL_ID_NOT_FOUND for ids this coordinator does not know.
#include "gregor/protocol/messages/describe_transactions.h"
#include "../txn_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::describe_transactions_request;
using resp_t = protocol::describe_transactions_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  txn_service& txns = *co_await c.transactions();
  for (const auto& id : req.transactional_ids) {
    auto& out = resp.transaction_states.emplace_back();
    out.transactional_id = id;
    // An error entry keeps the schema's defaults (0), as Kafka sends it.
    out.producer_id = 0;
    out.producer_epoch = 0;
    out.transaction_start_time_ms = 0;
    // Describe on the id; the partitions listed are those of topics the principal may Describe.
    error_code e = transactional_id_authorized(ctx, acl_op::describe, id) ? txns.check_coordinator(id)
                                                                          : error_code::transactional_id_authorization_failed;
    std::optional<txn::txn_description> d;
    if (e == error_code::none) {
      d = txns.describe(id);
      if (!d) e = error_code::transactional_id_not_found;
    }
    out.error_code = code(e);
    if (!d) continue;
    out.transaction_state = std::string(txn::state_name(d->value.state));
    out.transaction_timeout_ms = d->value.timeout_ms;
    out.transaction_start_time_ms = d->value.start_ms;
    out.producer_id = d->value.producer_id;
    out.producer_epoch = d->value.producer_epoch;
    for (const auto& [topic, parts] : d->value.partitions) {
      if (!topic_authorized(ctx, acl_op::describe, topic)) continue;
      auto& t = out.topics.emplace_back();
      t.topic = topic;
      t.partitions.assign(parts.begin(), parts.end());
    }
  }
  co_return resp;
}

}  // namespace

api_route describe_transactions_route() {
  return make_route<req_t, resp_t, &handle, 0, 0>("DescribeTransactions");
}

}  // namespace gregor::server
