// RemoveRaftVoter (key 81, KIP-853; v0 only, flexible). Served by the quorum leader on any
// listener; another node forwards it there. The voter is named by id and directory id (zero for
// a voter of the static controller.quorum.voters config). Answered once the smaller voter set is
// committed; a leader that removes itself resigns then and keeps running as an observer.
#include "gregor/protocol/messages/remove_raft_voter.h"
#include "voter_changes.h"

namespace gregor::server {
namespace {
using protocol::error_code;
namespace asio = boost::asio;
using req_t = protocol::remove_raft_voter_request;
using resp_t = protocol::remove_raft_voter_response;

resp_t answer(error_code e, std::string message) { return voter_changes::answer<resp_t>(e, std::move(message)); }

asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  if (!cluster_authorized(ctx, acl_op::alter))  // Alter on the cluster, as Kafka
    co_return answer(error_code::cluster_authorization_failed,
                     std::string(authorization_message(error_code::cluster_authorization_failed)));
  auto* q = c.quorum();
  if (auto refused = voter_changes::refusal<resp_t>(q, req)) co_return std::move(*refused);
  const int64_t timeout_ms = voter_changes::default_timeout_ms;
  if (auto fwd = co_await voter_changes::forward_to_leader<req_t, resp_t>(*q, req, ctx.version(), timeout_ms))
    co_return std::move(*fwd);
  raft_node& node = q->raft();
  const node_id id(req.voter_id);
  const uuid dir = req.voter_directory_id;
  const auto attempt = [&node, &id, &dir]() { return node.remove_voter(id, dir); };
  auto failed = co_await voter_changes::retry(attempt, timeout_ms);
  if (!failed) co_return answer(error_code::none, {});
  co_return answer(voter_changes::error_of(failed->error), failed->message);
}

}  // namespace

api_route remove_raft_voter_route() { return make_route<req_t, resp_t, &handle, 0, 0>("RemoveRaftVoter"); }

}  // namespace gregor::server
