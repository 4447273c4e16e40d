// Fetch (key 1). We serve v4+ (record batch v2 era). v4: isolation level, last stable offset,
// aborted transactions. v5: log start offset. v7: fetch sessions (KIP-227; we never create one:
// session id 0 makes clients send full requests). v9: current leader epoch. v10: zstd. v11: rack
// id, preferred read replica. v12: flexible, last fetched epoch, diverging epoch. v13: topic ids.
// v15: replica state (tagged). v16: node endpoints. v17: replica directory id.
// Whole batches are returned; the client skips records below its fetch offset. Long polling: when
// fewer than min_bytes are available the request parks until an append or max_wait_ms.
#include <map>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/fetch.h"
#include "handlers.h"
#include "leader_hint.h"
#include "../http_admin.h"
#include "../metadata_quorum.h"
#include "../raft_wire.h"

namespace gregor::server {
namespace {
using req_t = protocol::fetch_request;
using resp_t = protocol::fetch_response;
using protocol::error_code;

// The data of one response: buffers owned here, viewed by the encoded response's records.
struct fetch_pass {
  resp_t resp;
  std::vector<byte_buffer> buffers;
  size_t bytes = 0;
  bool any_error = false;
  // Bytes and records returned per topic, for the metrics of the pass that is finally sent.
  std::map<std::string, std::pair<size_t, int64_t>> out_by_topic;
};

// Records in whole batches laid back to back (the batch headers carry the counts).
int64_t count_records(std::span<const uint8_t> data) {
  int64_t n = 0;
  while (auto h = protocol::parse_batch_header(data)) {
    if (h->total_size() > data.size()) break;
    n += h->records_count;
    data = data.subspan(h->total_size());
  }
  return n;
}

// `follower`: a replica of the partitions fetching (no_node for a consumer). A follower reads up
// to the log end offset, not the high watermark; its fetch offset is its log end offset, which
// the leader records (first pass only) to advance the high watermark; and a fetch whose last
// fetched epoch the leader's log does not have up to that offset gets the diverging epoch instead
// of records, so the follower truncates first.
void read_all(core& c, const req_t& req, int16_t v, fetch_pass& pass,
              std::vector<topic_partition>& wanted, node_id follower = no_node, bool first_pass = true) {
  const bool read_committed = req.isolation_level == 1 && follower == no_node;
  size_t budget = req.max_bytes > 0 ? size_t(req.max_bytes) : 0;
  wanted.clear();
  for (const auto& topic : req.topics) {
    auto& tout = pass.resp.responses.emplace_back();
    tout.topic = topic.topic;
    tout.topic_id = topic.topic_id;
    std::string name = topic.topic;
    const topic_runtime* rt = v >= 13 ? c.topic(topic.topic_id, &name) : c.topic(name);
    for (const auto& part : topic.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = part.partition;
      pout.high_watermark = -1;
      pout.last_stable_offset = -1;
      pout.log_start_offset = -1;
      // An empty record set, never null: librdkafka rejects a -1 size.
      pout.records = std::span<const uint8_t>();
      if (v >= 4) pout.aborted_transactions = std::vector<resp_t::aborted_transaction>{};
      if (!rt) {
        pout.error_code = code(v >= 13 ? error_code::unknown_topic_id
                                       : error_code::unknown_topic_or_partition);
        pass.any_error = true;
        continue;
      }
      topic_partition tp{name, partition_id{part.partition}};
      auto leader = c.leader_partition(tp, part.current_leader_epoch);
      if (!leader) {
        pout.error_code = code(leader.error());
        pass.any_error = true;
        continue;
      }
      replication::partition* p = *leader;
      const offset start{part.fetch_offset};
      if (follower != no_node) {
        const auto& replicas = p->replicas().replicas;
        if (std::find(replicas.begin(), replicas.end(), follower) == replicas.end()) {
          pout.error_code = code(error_code::not_leader_or_follower);
          pass.any_error = true;
          continue;
        }
        if (v >= 12 && part.last_fetched_epoch >= 0) {
          const auto eo = p->end_offset_for_epoch(leader_epoch(part.last_fetched_epoch));
          if (eo.epoch < leader_epoch(part.last_fetched_epoch) || eo.end_offset < start) {
            pout.diverging_epoch.epoch = eo.epoch.value();
            pout.diverging_epoch.end_offset = eo.end_offset.value();
            pout.high_watermark = p->high_watermark().value();
            pout.last_stable_offset = p->last_stable_offset().value();
            pout.log_start_offset = p->log().log_start_offset().value();
            pass.any_error = true;  // answer at once
            continue;
          }
        }
        if (first_pass && start <= p->log().log_end_offset() && start >= p->log().log_start_offset() &&
            p->on_follower_fetch(follower, start, c.clk().monotonic_ms()))
          c.waiters().notify(tp);  // acks=all producers waiting for the high watermark
      }
      const offset hw = p->high_watermark();
      const offset upper = follower != no_node ? p->log().log_end_offset()
                                               : (read_committed ? p->last_stable_offset() : hw);
      pout.high_watermark = hw.value();
      pout.last_stable_offset = p->last_stable_offset().value();
      pout.log_start_offset = p->log().log_start_offset().value();
      wanted.push_back(tp);
      if (start > upper || start < p->log().log_start_offset()) {
        // Between the high watermark and the log end offset is not an error for Kafka, but on a
        // single-replica partition they are equal.
        if (start > p->log().log_end_offset() || start < p->log().log_start_offset()) {
          pout.error_code = code(error_code::offset_out_of_range);
          pass.any_error = true;
        }
        continue;
      }
      if (start == upper) continue;
      const size_t limit = std::min<size_t>(budget, size_t(std::max(part.partition_max_bytes, 0)));
      auto data = p->log().read(start, limit, upper, /*min_one=*/pass.bytes == 0);
      if (!data) {
        if (data.error().code == storage::storage_errc::offset_out_of_range) {
          pout.error_code = code(error_code::offset_out_of_range);
        } else {
          log::get("server").error("read from {} failed: {}", tp, data.error().message);
          pout.error_code = code(error_code::kafka_storage_error);
        }
        pass.any_error = true;
        continue;
      }
      if (data->data.empty()) continue;
      pass.bytes += data->data.size();
      auto& out = pass.out_by_topic[name];
      out.first += data->data.size();
      out.second += count_records(data->data);
      budget = budget > data->data.size() ? budget - data->data.size() : 0;
      pass.buffers.push_back(std::move(data->data));
      const auto& buf = pass.buffers.back();
      pout.records = std::span<const uint8_t>(buf.data(), buf.size());
    }
  }
}

// A replica of the controller quorum fetching __cluster_metadata: answered by the raft node.
boost::asio::awaitable<resp_t> quorum_fetch(metadata_quorum& q, request_context& ctx, req_t& req) {
  auto m = from_wire(req, ctx.version(), q.cluster_id());
  if (!m) co_return error_response<resp_t>(m.error().error);
  auto answer = co_await q.raft().handle(m->replica, raft::message{std::move(*m)});
  const auto* a = std::get_if<raft::fetch_response>(&answer);
  if (!a) co_return error_response<resp_t>(error_code::unknown_server_error);
  auto& storage = ctx.owned_buffers.emplace_back();
  std::vector<uint8_t> records;
  resp_t out = to_wire(*a, ctx.version(), records);
  // The response views `records`: move the bytes into storage the encoder keeps alive.
  storage.assign(records.begin(), records.end());
  for (auto& t : out.responses)
    for (auto& p : t.partitions)
      if (p.records) p.records = std::span<const uint8_t>(storage.data(), storage.size());
  co_return out;
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  const int16_t v = ctx.version();
  if (auto* q = c.quorum(); q && v >= raft_fetch_min_version && is_metadata_fetch(req, v))
    co_return co_await quorum_fetch(*q, ctx, req);
  const int32_t replica = v >= 15 ? req.replica_state.replica_id : req.replica_id;
  // A follower of a cluster broker: only registered brokers fetch as replicas (CVE-2018-1288).
  const bool follower = replica >= 0 && c.quorum() && c.image().brokers().contains(node_id(replica));
  if (replica >= 0 && !follower) {
    resp_t resp;
    resp.error_code = code(error_code::not_leader_or_follower);
    for (const auto& topic : req.topics) {
      auto& tout = resp.responses.emplace_back();
      tout.topic = topic.topic;
      tout.topic_id = topic.topic_id;
      for (const auto& part : topic.partitions) {
        auto& pout = tout.partitions.emplace_back();
        pout.partition_index = part.partition;
        pout.records = std::span<const uint8_t>();
        pout.error_code = code(error_code::not_leader_or_follower);
      }
    }
    co_return resp;
  }
  if (req.session_id != 0) {
    resp_t resp;
    resp.error_code = code(error_code::fetch_session_id_not_found);
    co_return resp;
  }

  const int64_t deadline = c.clk().monotonic_ms() + std::max(req.max_wait_ms, 0);
  std::vector<topic_partition> wanted;
  auto pass = std::make_shared<fetch_pass>();
  for (bool first = true;; first = false) {
    *pass = fetch_pass{};
    read_all(c, req, v, *pass, wanted, follower ? node_id(replica) : no_node, first);
    const int64_t now = c.clk().monotonic_ms();
    if (pass->any_error || pass->bytes >= size_t(std::max(req.min_bytes, 1)) || now >= deadline ||
        wanted.empty())
      break;
    co_await c.waiters().wait(wanted, deadline - now);
  }
  // The records views point into pass->buffers: hand them to the request context, which lives
  // until the response is encoded.
  for (auto& b : pass->buffers) ctx.owned_buffers.push_back(std::move(b));
  if (!follower)
    for (const auto& [topic, out] : pass->out_by_topic) record_fetched(topic, out.first, out.second);
  resp_t out = std::move(pass->resp);
  if (v >= 12) {
    for (auto& tout : out.responses) {
      std::string name = tout.topic;
      if (v >= 13 && !c.topic(tout.topic_id, &name)) continue;
      for (auto& pout : tout.partitions) {
        if (pout.error_code != code(error_code::not_leader_or_follower) &&
            pout.error_code != code(error_code::fenced_leader_epoch))
          continue;
        if (auto l = current_leader(c, name, pout.partition_index)) {
          pout.current_leader.leader_id = l->id;
          pout.current_leader.leader_epoch = l->epoch;
          if (v >= 16) add_node_endpoint(c, ctx.conn.listener_name, out.node_endpoints, l->id);
        }
      }
    }
  }
  co_return out;
}

}  // namespace

api_route fetch_route() { return make_route<req_t, resp_t, &handle, 4, 18>("Fetch"); }

}  // namespace gregor::server
