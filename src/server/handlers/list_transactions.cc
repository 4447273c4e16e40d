// ListTransactions (key 66): the transactional ids this broker coordinates, filtered by state
// (unknown state names are echoed in unknown_state_filters), producer id, v1: how long the
// transaction has been running (duration_filter ms, -1 = any), v2: a regular expression the id
// must match (kafka-transactions.sh list, find-hanging).

#include "gregor/base/regex.h"
#include "gregor/protocol/messages/list_transactions.h"
#include "../txn_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::list_transactions_request;
using resp_t = protocol::list_transactions_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  // Nothing to list (and no reason to create the topic) before any transaction was used.
  if (!c.topic(std::string(transaction_state_topic))) co_return resp;
  txn_service& txns = *co_await c.transactions();
  if (!txns.started()) {
    resp.error_code = code(error_code::coordinator_not_available);
    co_return resp;
  }
  std::set<txn::txn_state> states;
  for (const auto& name : req.state_filters) {
    if (auto s = txn::state_from_name(name)) states.insert(*s);
    else resp.unknown_state_filters.push_back(name);
  }
  // Only unknown states named: nothing can match.
  if (states.empty() && !req.state_filters.empty()) co_return resp;
  std::optional<gregor::regex> pattern;
  if (req.transactional_id_pattern && !req.transactional_id_pattern->empty()) {
    auto compiled = gregor::regex::compile(*req.transactional_id_pattern);
    if (!compiled) {
      resp.error_code = code(error_code::invalid_regular_expression);
      co_return resp;
    }
    pattern.emplace(std::move(*compiled));
  }
  const std::set<int64_t> pids(req.producer_id_filters.begin(), req.producer_id_filters.end());
  const int64_t now = c.clk().now_ms();
  for (const auto& d : txns.list()) {
    if (txns.check_coordinator(d.transactional_id) != error_code::none) continue;
    if (!states.empty() && !states.contains(d.value.state)) continue;
    if (!pids.empty() && !pids.contains(d.value.producer_id)) continue;
    if (d.value.state == txn::txn_state::dead) continue;
    // As Kafka: running for longer than the filter (a transaction never started counts as old).
    if (req.duration_filter >= 0 && now - d.value.start_ms <= req.duration_filter) continue;
    if (pattern && !pattern->full_match(d.transactional_id)) continue;
    if (!transactional_id_authorized(ctx, acl_op::describe, d.transactional_id)) continue;  // listed only if describable
    auto& out = resp.transaction_states.emplace_back();
    out.transactional_id = d.transactional_id;
    out.producer_id = d.value.producer_id;
    out.transaction_state = std::string(txn::state_name(d.value.state));
  }
  co_return resp;
}

}  // namespace

api_route list_transactions_route() { return make_route<req_t, resp_t, &handle, 0, 2>("ListTransactions"); }

}  // namespace gregor::server
