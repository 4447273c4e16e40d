// AddRaftVoter (key 80, KIP-853; always flexible). v1: AckWhenCommitted: true (v0's behaviour)
// answers once the new voter set is committed, false as soon as the leader has appended it (as
// Kafka's leader does; the answer then says nothing about the commit). Served by the quorum leader on any
// listener; another node forwards it there. The replica must be an observer fetching with the
// given directory id and caught up; until it is (or until a pending change commits) the leader
// retries for up to TimeoutMs, then answers REQUEST_TIMED_OUT as Kafka does.
#include <algorithm>

#include "gregor/protocol/messages/add_raft_voter.h"
#include "voter_changes.h"

namespace gregor::server {
namespace {
using protocol::error_code;
namespace asio = boost::asio;
using req_t = protocol::add_raft_voter_request;
using resp_t = protocol::add_raft_voter_response;

resp_t answer(error_code e, std::string message) { return voter_changes::answer<resp_t>(e, std::move(message)); }

asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  if (!cluster_authorized(ctx, acl_op::alter))  // Alter on the cluster, as Kafka
    co_return answer(error_code::cluster_authorization_failed,
                     std::string(authorization_message(error_code::cluster_authorization_failed)));
  auto* q = c.quorum();
  if (auto refused = voter_changes::refusal<resp_t>(q, req)) co_return std::move(*refused);
  if (req.voter_id < 0) co_return answer(error_code::invalid_request, "the voter id is negative");
  if (req.listeners.empty()) co_return answer(error_code::invalid_request, "the new voter has no listeners");
  const int64_t timeout_ms = std::clamp<int64_t>(req.timeout_ms > 0 ? req.timeout_ms : voter_changes::default_timeout_ms,
                                                 0, voter_changes::timeout_ms_max);
  if (auto fwd = co_await voter_changes::forward_to_leader<req_t, resp_t>(*q, req, ctx.version(), timeout_ms))
    co_return std::move(*fwd);
  raft::voter v;
  v.id = node_id(req.voter_id);
  v.directory_id = req.voter_directory_id;
  for (const auto& l : req.listeners) v.endpoints.push_back({l.name, l.host, l.port});
  raft_node& node = q->raft();
  const bool ack_when_committed = ctx.version() < 1 || req.ack_when_committed;
  const auto attempt = [&node, &v, ack_when_committed]() { return node.add_voter(v, ack_when_committed); };
  auto failed = co_await voter_changes::retry(attempt, timeout_ms);
  if (!failed) co_return answer(error_code::none, {});
  co_return answer(voter_changes::error_of(failed->error), failed->message);
}

}  // namespace

api_route add_raft_voter_route() { return make_route<req_t, resp_t, &handle, 0, 1>("AddRaftVoter"); }

}  // namespace gregor::server
