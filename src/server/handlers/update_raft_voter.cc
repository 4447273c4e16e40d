// UpdateRaftVoter (key 82, KIP-853; v0 only, flexible): a voter tells the leader its current
// endpoints (and supported kraft.version range, which Gregor does not track: every Gregor node
// supports 0-1). Controller listeners only, as in Kafka. The leader replaces the endpoints of the
// voter with that id and directory id and answers once that is committed; CurrentLeader (tagged)
// names the leader and its controller endpoint.
#include "gregor/protocol/messages/update_raft_voter.h"
#include "voter_changes.h"

namespace gregor::server {
namespace {
using protocol::error_code;
namespace asio = boost::asio;
using req_t = protocol::update_raft_voter_request;
using resp_t = protocol::update_raft_voter_response;

resp_t answer(const metadata_quorum* q, error_code e) {
  resp_t r;
  r.error_code = protocol::code_of(e);
  if (!q) return r;
  const auto l = q->raft().leader();
  r.current_leader.leader_id = l.leader.value();
  r.current_leader.leader_epoch = l.epoch.value();
  for (const auto& v : q->voters()) {
    if (v.id != l.leader) continue;
    r.current_leader.host = v.host;
    r.current_leader.port = v.port;
  }
  return r;
}

asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  auto* q = c.quorum();
  if (!cluster_authorized(ctx, acl_op::cluster_action)) co_return answer(q, error_code::cluster_authorization_failed);
  if (!q || !c.is_controller_listener(ctx.conn.listener_name)) co_return answer(q, error_code::invalid_request);
  if (req.cluster_id && !q->cluster_id().empty() && *req.cluster_id != q->cluster_id()) co_return answer(q, error_code::inconsistent_cluster_id);
  if (req.listeners.empty()) co_return answer(q, error_code::invalid_request);
  const auto l = q->raft().leader();
  if (!q->raft().is_leader()) co_return answer(q, error_code::not_leader_or_follower);
  if (req.current_leader_epoch >= 0 && req.current_leader_epoch != l.epoch.value())
    co_return answer(q, req.current_leader_epoch < l.epoch.value() ? error_code::fenced_leader_epoch
                                                                   : error_code::unknown_leader_epoch);
  raft::voter v;
  v.id = node_id(req.voter_id);
  v.directory_id = req.voter_directory_id;
  for (const auto& e : req.listeners) v.endpoints.push_back({e.name, e.host, e.port});
  raft_node& node = q->raft();
  const auto attempt = [&node, &v]() { return node.update_voter(v); };
  auto failed = co_await voter_changes::retry(attempt, voter_changes::default_timeout_ms);
  co_return answer(q, failed ? voter_changes::error_of(failed->error) : error_code::none);
}

}  // namespace

api_route update_raft_voter_route() { return make_route<req_t, resp_t, &handle, 0, 0>("UpdateRaftVoter"); }

}  // namespace gregor::server
