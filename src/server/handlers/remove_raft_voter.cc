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

resp_t answer(error_code e, std::string message) {
  resp_t r;
  r.error_code = protocol::code_of(e);
  if (e != error_code::none) r.error_message = std::move(message);
  return r;
}

asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  auto* q = c.quorum();
  if (!q) co_return answer(error_code::invalid_request, "this node is not part of a multi-node controller quorum");
  if (req.cluster_id && *req.cluster_id != q->cluster_id())
    co_return answer(error_code::inconsistent_cluster_id, "the request names another cluster");
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
