#pragma once
// What AddRaftVoter, RemoveRaftVoter and UpdateRaftVoter (KIP-853) share: the leader makes the
// change (raft_node, which answers once the voters entry commits), a node that does not lead
// forwards the request to the leader's controller listener, and the core's refusals map onto
// Kafka's error codes in one place.
#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "../metadata_quorum.h"
#include "gregor/protocol/error_code.h"
#include "handlers.h"

namespace gregor::server::voter_changes {

inline protocol::error_code error_of(raft::raft_error e) {
  using protocol::error_code;
  switch (e) {
    case raft::raft_error::not_leader: return error_code::not_leader_or_follower;
    case raft::raft_error::duplicate_voter: return error_code::duplicate_voter;
    case raft::raft_error::voter_not_found: return error_code::voter_not_found;
    case raft::raft_error::invalid_voter: return error_code::invalid_request;
    // Kafka answers a change it could not make in time (a pending change, a new voter that is
    // not caught up) with REQUEST_TIMED_OUT.
    default: return error_code::request_timed_out;
  }
}

// Worth retrying until the request's deadline: the previous change (or this epoch's first entry)
// commits, or the new voter catches up.
inline bool transient(raft::raft_error e) {
  return e == raft::raft_error::change_pending || e == raft::raft_error::not_caught_up ||
         e == raft::raft_error::too_many_pending;
}

// How long a change may take on the leader: the request's TimeoutMs where it has one.
// The answer of AddRaftVoter / RemoveRaftVoter: the error code, and its message when it is one.
template <class Resp>
Resp answer(protocol::error_code e, std::string message) {
  Resp r;
  r.error_code = protocol::code_of(e);
  if (e != protocol::error_code::none) r.error_message = std::move(message);
  return r;
}

// What both refuse before anything else: a node outside a multi-node quorum, another cluster.
template <class Resp, class Req>
std::optional<Resp> refusal(const metadata_quorum* q, const Req& req) {
  if (!q) return answer<Resp>(protocol::error_code::invalid_request, "this node is not part of a multi-node controller quorum");
  if (req.cluster_id && !q->cluster_id().empty() && *req.cluster_id != q->cluster_id())
    return answer<Resp>(protocol::error_code::inconsistent_cluster_id, "the request names another cluster");
  return std::nullopt;
}

inline constexpr int64_t default_timeout_ms = 30000;
inline constexpr int64_t timeout_ms_max = 120000;
inline constexpr int64_t retry_ms = 100;

// Runs `attempt()` (an awaitable returning result<void, raft_node::voter_change_error>) until it
// succeeds, fails for good or `timeout_ms` passes; the final error, if any.
template <class Attempt>
boost::asio::awaitable<std::optional<raft_node::voter_change_error>> retry(Attempt attempt, int64_t timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto r = co_await attempt();
    if (r) co_return std::nullopt;
    if (!transient(r.error().error) || std::chrono::steady_clock::now() >= deadline) co_return r.error();
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, std::chrono::milliseconds(retry_ms));
    co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
}

// A node that does not lead sends the request on to the leader and relays its answer; nullopt
// when this node leads (or no leader is known: the caller answers NOT_LEADER_OR_FOLLOWER).
template <class Req, class Resp>
boost::asio::awaitable<std::optional<Resp>> forward_to_leader(metadata_quorum& q, const Req& req, int16_t version,
                                                             int64_t timeout_ms) {
  if (q.raft().is_leader()) co_return std::nullopt;
  const auto leader = q.leader();
  if (!leader) co_return std::nullopt;
  rpc::call_options opts;
  opts.timeout_ms = timeout_ms + 5000;
  opts.version = version;
  auto r = co_await q.controllers().call_reply<Req, Resp>(*leader, req, opts);
  Resp resp;
  if (r) co_return std::move(r->body);
  resp.error_code = protocol::code_of(protocol::error_code::request_timed_out);
  co_return resp;
}

}  // namespace gregor::server::voter_changes
