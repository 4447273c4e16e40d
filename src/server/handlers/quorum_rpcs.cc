// The controller quorum's RPCs (KRaft): Vote (52), BeginQuorumEpoch (53), EndQuorumEpoch (54),
// FetchSnapshot (59) go to this node's raft_node (Fetch on __cluster_metadata is diverted in
// fetch.cc); DescribeQuorum (55) is answered by the quorum leader, and forwarded to it by any
// other node that receives it on a broker listener (as Kafka's brokers do, so
// `kafka-metadata-quorum.sh --bootstrap-server` works). A node that is not in cluster mode answers
// DescribeQuorum for its one-voter quorum and refuses the others.
#include "gregor/base/log.h"
#include "gregor/controller/metadata_log.h"
#include "gregor/protocol/messages/begin_quorum_epoch.h"
#include "gregor/protocol/messages/describe_quorum.h"
#include "gregor/protocol/messages/end_quorum_epoch.h"
#include "gregor/protocol/messages/fetch_snapshot.h"
#include "gregor/protocol/messages/vote.h"
#include "handlers.h"
#include "../metadata_quorum.h"
#include "../raft_wire.h"

namespace gregor::server {
namespace {
using protocol::error_code;
namespace asio = boost::asio;

// Translates, steps the core and translates the answer back; refusals answer with their code.
template <class WireReq, class WireResp, class RaftReq, class RaftResp>
asio::awaitable<std::optional<WireResp>> to_quorum(core& c, request_context& ctx, WireReq& req,
                                                   node_id (*sender)(const RaftReq&)) {
  // Only the quorum's members speak raft (ClusterAction on the cluster, as Kafka's controller).
  if (!cluster_authorized(ctx, acl_op::cluster_action))
    co_return error_response<WireResp>(error_code::cluster_authorization_failed);
  auto* q = c.quorum();
  if (!q) co_return error_response<WireResp>(error_code::invalid_request);
  auto m = from_wire(req, ctx.version(), q->cluster_id());
  if (!m) {
    log::get("raft").debug("refused {} from {}: {}", WireReq::api_key, ctx.conn.peer, m.error().why);
    co_return error_response<WireResp>(m.error().error);
  }
  const node_id from = sender(*m);
  auto answer = co_await q->raft().handle(from, raft::message{std::move(*m)});
  const auto* a = std::get_if<RaftResp>(&answer);
  if (!a) co_return error_response<WireResp>(error_code::unknown_server_error);
  co_return to_wire(*a, ctx.version());
}

node_id vote_sender(const raft::vote_request& r) { return r.candidate; }
node_id bqe_sender(const raft::begin_quorum_epoch_request& r) { return r.leader.leader; }
node_id eqe_sender(const raft::end_quorum_epoch_request& r) { return r.leader.leader; }

asio::awaitable<std::optional<protocol::vote_response>> vote(core& c, request_context& ctx,
                                                             protocol::vote_request& req) {
  co_return co_await to_quorum<protocol::vote_request, protocol::vote_response, raft::vote_request, raft::vote_response>(
      c, ctx, req, &vote_sender);
}
asio::awaitable<std::optional<protocol::begin_quorum_epoch_response>> begin_epoch(
    core& c, request_context& ctx, protocol::begin_quorum_epoch_request& req) {
  co_return co_await to_quorum<protocol::begin_quorum_epoch_request, protocol::begin_quorum_epoch_response,
                             raft::begin_quorum_epoch_request, raft::begin_quorum_epoch_response>(
      c, ctx, req, &bqe_sender);
}
asio::awaitable<std::optional<protocol::end_quorum_epoch_response>> end_epoch(
    core& c, request_context& ctx, protocol::end_quorum_epoch_request& req) {
  co_return co_await to_quorum<protocol::end_quorum_epoch_request, protocol::end_quorum_epoch_response,
                             raft::end_quorum_epoch_request, raft::end_quorum_epoch_response>(
      c, ctx, req, &eqe_sender);
}

// FetchSnapshot's answer views the chunk inside the raft response: kept alive in owned_buffers.
asio::awaitable<std::optional<protocol::fetch_snapshot_response>> fetch_snapshot(
    core& c, request_context& ctx, protocol::fetch_snapshot_request& req) {
  using resp_t = protocol::fetch_snapshot_response;
  if (!cluster_authorized(ctx, acl_op::cluster_action))
    co_return error_response<resp_t>(error_code::cluster_authorization_failed);
  auto* q = c.quorum();
  if (!q) co_return error_response<resp_t>(error_code::invalid_request);
  auto m = from_wire(req, ctx.version(), q->cluster_id());
  if (!m) co_return error_response<resp_t>(m.error().error);
  const node_id from = m->replica;
  auto answer = co_await q->raft().handle(from, raft::message{std::move(*m)});
  auto* a = std::get_if<raft::fetch_snapshot_response>(&answer);
  if (!a) co_return error_response<resp_t>(error_code::unknown_server_error);
  auto& chunk = ctx.owned_buffers.emplace_back(a->unaligned_records.begin(), a->unaligned_records.end());
  a->unaligned_records.clear();
  resp_t out = to_wire(*a, ctx.version());
  for (auto& t : out.topics)
    for (auto& p : t.partitions) p.unaligned_records = std::span<const uint8_t>(chunk.data(), chunk.size());
  co_return out;
}

// ---- DescribeQuorum ----

using dq_req = protocol::describe_quorum_request;
using dq_resp = protocol::describe_quorum_response;

dq_resp::replica_state replica_state(const metadata_quorum* q, const raft::replica_progress& p, int16_t version) {
  dq_resp::replica_state s;
  s.replica_id = p.id.value();
  if (version >= 2) s.replica_directory_id = p.directory_id;
  s.log_end_offset = p.log_end_offset.value();
  s.last_fetch_timestamp = q ? q->to_wall_ms(p.last_fetch_ms) : p.last_fetch_ms;
  s.last_caught_up_timestamp = q ? q->to_wall_ms(p.last_caught_up_ms) : p.last_caught_up_ms;
  return s;
}

dq_resp answer_describe_quorum(core& c, int16_t version) {
  dq_resp resp;
  auto& t = resp.topics.emplace_back();
  t.topic_name = std::string(controller::metadata_topic_name);
  auto& p = t.partitions.emplace_back();
  p.partition_index = 0;
  if (auto* q = c.quorum()) {
    if (!q->raft().is_leader()) {
      p.error_code = code(error_code::not_leader_or_follower);
      p.error_message = "this node is not the quorum leader";
      const auto l = q->raft().leader();
      p.leader_id = l.leader.value();
      p.leader_epoch = l.epoch.value();
      p.high_watermark = -1;
      return resp;
    }
    const auto info = q->raft().describe_quorum();
    p.leader_id = info.leader.leader.value();
    p.leader_epoch = info.leader.epoch.value();
    p.high_watermark = info.high_watermark.value();
    for (const auto& v : info.voters) p.current_voters.push_back(replica_state(q, v, version));
    for (const auto& o : info.observers) p.observers.push_back(replica_state(q, o, version));
    if (version >= 2) {
      // The current voters (KIP-853: the latest VotersRecord, else controller.quorum.voters).
      for (const auto& v : q->voter_set()) {
        auto& n = resp.nodes.emplace_back();
        n.node_id = v.id.value();
        for (const auto& ep : v.endpoints) n.listeners.push_back({ep.name, ep.host, ep.port, {}});
      }
    }
    return resp;
  }
  // The one-voter quorum of a single node.
  const int64_t now = c.clk().now_ms();
  const int64_t end = c.metadata().log().log_end_offset().value();
  p.leader_id = c.self().value();
  p.leader_epoch = c.metadata().epoch().value();
  p.high_watermark = end;
  p.current_voters.push_back({c.self().value(), {}, end, now, now, {}});
  if (version >= 2) {
    auto& n = resp.nodes.emplace_back();
    n.node_id = c.self().value();
    const auto adv = c.advertised_for(c.config().listeners.empty() ? "" : c.config().listeners.front().name);
    n.listeners.push_back({adv.name, adv.host, uint16_t(adv.port), {}});
  }
  return resp;
}

asio::awaitable<std::optional<dq_resp>> describe_quorum(core& c, request_context& ctx, dq_req& req) {
  if (!cluster_authorized(ctx, acl_op::describe)) {
    dq_resp resp;
    resp.error_code = code(error_code::cluster_authorization_failed);
    resp.error_message = std::string(authorization_message(error_code::cluster_authorization_failed));
    co_return resp;
  }
  const bool ours = req.topics.size() == 1 && req.topics[0].topic_name == controller::metadata_topic_name &&
                    req.topics[0].partitions.size() == 1 && req.topics[0].partitions[0].partition_index == 0;
  if (!ours) {
    dq_resp resp;
    resp.error_code = code(error_code::unknown_topic_or_partition);
    resp.error_message = "DescribeQuorum is only served for __cluster_metadata-0";
    co_return resp;
  }
  auto* q = c.quorum();
  if (q && !q->raft().is_leader() && !c.is_controller_listener(ctx.conn.listener_name)) {
    // A broker forwards to the active controller (any node that has a broker listener).
    if (auto leader = q->leader()) {
      rpc::call_options opts;
      opts.timeout_ms = 10000;
      opts.max_version = ctx.version();
      auto r = co_await q->controllers().call_reply<dq_req, dq_resp>(*leader, req, opts);
      if (r && r->version == ctx.version()) co_return std::move(r->body);
      dq_resp resp;
      resp.error_code = code(error_code::request_timed_out);
      resp.error_message = r ? "the controller answered another version" : r.error().message;
      co_return resp;
    }
  }
  co_return answer_describe_quorum(c, ctx.version());
}

}  // namespace

api_route vote_route() {
  return make_route<protocol::vote_request, protocol::vote_response, &vote, 0, 2>("Vote");
}
api_route begin_quorum_epoch_route() {
  return make_route<protocol::begin_quorum_epoch_request, protocol::begin_quorum_epoch_response, &begin_epoch, 0, 1>(
      "BeginQuorumEpoch");
}
api_route end_quorum_epoch_route() {
  return make_route<protocol::end_quorum_epoch_request, protocol::end_quorum_epoch_response, &end_epoch, 0, 1>(
      "EndQuorumEpoch");
}
api_route fetch_snapshot_route() {
  return make_route<protocol::fetch_snapshot_request, protocol::fetch_snapshot_response, &fetch_snapshot, 0, 1>(
      "FetchSnapshot");
}
api_route describe_quorum_route() {
  return make_route<dq_req, dq_resp, &describe_quorum, 0, 2>("DescribeQuorum");
}

}  // namespace gregor::server
