// Fetch (key 1). We serve v4+ (record batch v2 era). v4: isolation level, last stable offset,
// aborted transactions. v5: log start offset. v7: fetch sessions (KIP-227, fetch_session.h). v9:
// current leader epoch. v10: zstd. v11: rack id, preferred read replica (KIP-392). v12: flexible,
// last fetched epoch, diverging epoch. v13: topic ids. v15: replica state (tagged). v16: node
// endpoints. v17: replica directory id.
// Whole batches are returned; the client skips records below its fetch offset. Long polling: when
// fewer than min_bytes are available the request parks until an append or max_wait_ms.
// KIP-392: a consumer fetch (v11+) may be served by a follower, up to the follower's high
// watermark; the leader, when replica.selector.class is the rack-aware selector and the consumer
// names its rack, answers with a preferred read replica in that rack instead of records.
#include <algorithm>
#include <functional>
#include <map>
#include <mutex>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/fetch.h"
#include "client_quota.h"
#include "handlers.h"
#include "../idempotence.h"
#include "leader_hint.h"
#include "../http_admin.h"
#include "../metadata_quorum.h"
#include "../raft_wire.h"
#include "../read_replica_selector.h"

namespace gregor::server {
namespace {
using req_t = protocol::fetch_request;
using resp_t = protocol::fetch_response;
using protocol::error_code;

constexpr std::string_view rack_aware_selector = "org.apache.kafka.common.replica.RackAwareReplicaSelector";

// The data of one response: buffers owned here, viewed by the encoded response's records.
struct fetch_pass {
  resp_t resp;
  std::vector<byte_buffer> buffers;
  size_t bytes = 0;
  // Errors, diverging epochs and preferred read replicas are answered without waiting.
  bool answer_now = false;
  // Bytes and records returned per topic, for the metrics of the pass that is finally sent.
  std::map<std::string, std::pair<size_t, int64_t>> out_by_topic;
  // Follower fetches: bytes of partitions under the leader's reassignment throttle.
  int64_t throttled_bytes = 0;
  // Kept until the response is written: consumer fetches' shares of the broker-wide fetch_memory
  // account, and the owners of records the log shared instead of copying (readahead buffers,
  // tail-cache chunks).
  std::vector<std::shared_ptr<const void>> leases;
  // Consumer fetches: partitions left out because their bytes are still on the device
  // (prepared_reads::defer); a pass that holds records from others answers without them.
  size_t deferred = 0;
};

// The device reads a read pass would wait for (prepare_reads), and per requested partition
// whether a consumer's pass may leave it out: its bytes are on the device (a background read
// still running, or none started because the readahead budget is spent) and the last fetch at
// that offset did not leave it out already (fetch_deferrals.h). Leaving such a partition out answers the
// rest at once, without waiting on the device or reading it on the io thread; the client asks
// again straight away, and then finds the bytes in memory or reads them.
struct prepared_reads {
  std::vector<bool> defer;                      // per item; empty for followers
  std::vector<storage::device_read> waited;     // the other partitions' reads: the pass waits for them
  std::vector<storage::device_read> left_out;   // theirs: waited for only when the rest is too little
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

// One past the last offset of the whole batches in `data` (`from` when there are none).
offset end_of(std::span<const uint8_t> data, offset from) {
  offset end = from;
  while (auto h = protocol::parse_batch_header(data)) {
    if (h->total_size() > data.size()) break;
    end = offset(h->last_offset() + 1);
    data = data.subspan(h->total_size());
  }
  return end;
}

// The request's partitions as the session cache sees them (v13+: by topic id, else by name).
std::vector<fetch_partition_params> requested_of(const req_t& req, int16_t v) {
  std::vector<fetch_partition_params> out;
  for (const auto& t : req.topics) {
    for (const auto& p : t.partitions) {
      auto& o = out.emplace_back();
      if (v >= 13) o.key.topic_id = t.topic_id;
      else o.key.topic = t.topic;
      o.key.partition = p.partition;
      o.fetch_offset = p.fetch_offset;
      o.log_start_offset = p.log_start_offset;
      o.max_bytes = p.partition_max_bytes;
      o.current_leader_epoch = p.current_leader_epoch;
      o.last_fetched_epoch = p.last_fetched_epoch;
    }
  }
  return out;
}

std::vector<fetch_key> forgotten_of(const req_t& req, int16_t v) {
  std::vector<fetch_key> out;
  for (const auto& t : req.forgotten_topics_data)
    for (int32_t p : t.partitions) out.push_back(v >= 13 ? fetch_key{t.topic_id, {}, p} : fetch_key{{}, t.topic, p});
  return out;
}

// The replica a fetch reads. Followers and pre-KIP-392 consumers need the leader; a v11+ consumer
// may read any replica hosted here (Kafka's fetchOnlyFromLeader = false), checked against its
// current leader epoch the same way.
result<replication::partition*, error_code> replica_for(core& c, const topic_partition& tp, int32_t epoch,
                                                        bool leader_only) {
  if (leader_only) return c.leader_partition(tp, epoch);
  replication::partition* p = c.partition(tp);
  if (!p) return c.leader_partition(tp, epoch);  // the error a missing replica gets
  if (epoch >= 0 && epoch != p->epoch().value())
    return failure{epoch < p->epoch().value() ? error_code::fenced_leader_epoch : error_code::unknown_leader_epoch};
  return p;
}

// Kafka's RackAwareReplicaSelector on the leader: among the leader and the in-sync followers whose
// log reaches fetch_offset, those in the consumer's rack; the leader if it is one of them (or none
// is), else the most caught-up (highest log end offset, then latest last-caught-up time:
// read_replica_selector.h). nullopt = read here.
std::optional<node_id> preferred_read_replica(core& c, replication::partition& p, const std::string& rack,
                                              offset fetch_offset) {
  if (rack.empty() || c.config().replica_selector_class != rack_aware_selector) return std::nullopt;
  if (c.config().broker_rack == rack) return std::nullopt;  // the leader is in the consumer's rack
  const auto& brokers = c.image().brokers();
  std::vector<read_replica_candidate> in_rack;
  for (node_id r : p.replicas().isr) {
    if (r == c.self()) continue;
    auto b = brokers.find(r);
    if (b == brokers.end() || b->second.fenced || b->second.rack != rack) continue;
    const auto end = p.follower_end_offset(r);
    if (!end || *end < fetch_offset) continue;
    in_rack.push_back(read_replica_candidate{r, *end, p.follower_last_caught_up_ms(r).value_or(0)});
  }
  return most_caught_up_replica(in_rack);
}

// `follower`: a replica of the partitions fetching (no_node for a consumer). A follower reads up
// to the log end offset, not the high watermark; its fetch offset is its log end offset, which
// the leader records (first pass only) to advance the high watermark; and a fetch whose last
// fetched epoch the leader's log does not have up to that offset gets the diverging epoch instead
// of records, so the follower truncates first. `items` are read in order; consecutive partitions
// of one topic share a topic entry of the response.
void read_all(core& c, const req_t& req, int16_t v, std::span<const fetch_partition_params> items, fetch_pass& pass,
              std::vector<topic_partition>& wanted, node_id follower = no_node, bool first_pass = true,
              const std::function<bool(const std::string&)>& may_read = {},
              const std::vector<bool>& defer = {}) {
  const bool read_committed = req.isolation_level == 1 && follower == no_node;
  // KIP-392: consumers of v11+ carry client metadata and may read followers.
  const bool leader_only = follower != no_node || v < 11;
  size_t budget = req.max_bytes > 0 ? size_t(req.max_bytes) : 0;
  wanted.clear();
  resp_t::fetchable_topic_response* tout = nullptr;
  std::string name;
  const topic_runtime* rt = nullptr;
  for (size_t item = 0; item < items.size(); ++item) {
    const auto& part = items[item];
    if (!tout || tout->topic != part.key.topic || tout->topic_id != part.key.topic_id) {
      tout = &pass.resp.responses.emplace_back();
      tout->topic = part.key.topic;
      tout->topic_id = part.key.topic_id;
      name = part.key.topic;
      rt = v >= 13 ? c.topic(part.key.topic_id, &name) : c.topic(name);
    }
    auto& pout = tout->partitions.emplace_back();
    pout.partition_index = part.key.partition;
    pout.high_watermark = -1;
    pout.last_stable_offset = -1;
    pout.log_start_offset = -1;
    // An empty record set, never null: librdkafka rejects a -1 size.
    pout.records = std::span<const uint8_t>();
    // An error answer carries the schema's default (an empty list); a read carries the list only
    // for read_committed and null otherwise, as Kafka (below).
    if (v >= 4) pout.aborted_transactions = std::vector<resp_t::aborted_transaction>{};
    if (may_read && (rt || v < 13) && !may_read(name)) {
      pout.error_code = code(error_code::topic_authorization_failed);
      pass.answer_now = true;
      continue;
    }
    if (!rt) {
      pout.error_code = code(v >= 13 ? error_code::unknown_topic_id : error_code::unknown_topic_or_partition);
      pass.answer_now = true;
      continue;
    }
    topic_partition tp{name, partition_id{part.key.partition}};
    auto replica = replica_for(c, tp, part.current_leader_epoch, leader_only);
    if (!replica) {
      pout.error_code = code(replica.error());
      pass.answer_now = true;
      continue;
    }
    replication::partition* p = *replica;
    const offset start{part.fetch_offset};
    if (follower != no_node) {
      const auto& replicas = p->replicas().replicas;
      if (std::find(replicas.begin(), replicas.end(), follower) == replicas.end()) {
        pout.error_code = code(error_code::not_leader_or_follower);
        pass.answer_now = true;
        continue;
      }
      if (v >= 12 && part.last_fetched_epoch >= 0) {
        const auto eo = p->end_offset_for_epoch(leader_epoch(part.last_fetched_epoch));
        if (eo.epoch < leader_epoch(part.last_fetched_epoch) || eo.end_offset < start) {
          pout.diverging_epoch.epoch = eo.epoch.value();
          pout.diverging_epoch.end_offset = eo.end_offset.value();
          pout.high_watermark = p->high_watermark().value();
          pout.last_stable_offset = c.producers().last_stable_offset(*p, /*load_if_needed=*/false).value();
          pout.log_start_offset = p->log().log_start_offset().value();
          pass.answer_now = true;
          continue;
        }
      }
      if (first_pass && start <= p->log().log_end_offset() && start >= p->log().log_start_offset() &&
          p->on_follower_fetch(follower, start, c.clk().monotonic_ms()))
        c.high_watermark_moved(tp);  // acks=all producers, group offsets waiting for it
    }
    // Reassignment throttle (Kafka's shouldLeaderThrottle): a follower outside the ISR gets no
    // records for a throttled partition while the leader's quota is exceeded.
    const bool throttled = follower != no_node && replica_throttled(c.image(), "leader.replication.throttled.replicas",
                                                                    name, part.key.partition, c.self());
    const offset hw = p->high_watermark();
    // The last stable offset (idempotence.h); a follower's fetch never loads producer state.
    const offset lso = c.producers().last_stable_offset(*p, /*load_if_needed=*/follower == no_node);
    // Followers get what this leader has written (storage/disk_writer.h), consumers what is committed.
  const offset upper = follower != no_node ? p->log().written_end_offset() : (read_committed ? lso : hw);
    pout.high_watermark = hw.value();
    pout.last_stable_offset = lso.value();
    pout.log_start_offset = p->log().log_start_offset().value();
    if (!read_committed) pout.aborted_transactions.reset();
    if (follower == no_node && v >= 11 && p->is_leader()) {
      if (auto r = preferred_read_replica(c, *p, req.rack_id, start)) {
        // Kafka skips the read and answers at once; the consumer fetches from r next.
        pout.preferred_read_replica = r->value();
        pass.answer_now = true;
        continue;
      }
    }
    wanted.push_back(tp);
    if (start > upper || start < p->log().log_start_offset()) {
      // Between the high watermark and the log end offset is not an error (Kafka answers no
      // records); past the log end offset or before its start is.
      if (start > p->log().log_end_offset() || start < p->log().log_start_offset()) {
        pout.error_code = code(error_code::offset_out_of_range);
        pass.answer_now = true;
      }
      continue;
    }
    if (start == upper) continue;
    if (throttled) {
      const auto& isr = p->replicas().isr;
      if (std::find(isr.begin(), isr.end(), follower) == isr.end() &&
          c.quotas().leader.exceeded(c.config().leader_replication_throttled_rate, c.clk().monotonic_ms()))
        continue;
    }
    size_t limit = std::min<size_t>(budget, size_t(std::max(part.max_bytes, 0)));
    if (follower == no_node) {
      // Consumer records held in memory are bounded broker-wide (fetch_memory.h): when the
      // account is spent this partition reads nothing now (the fetch waits as for no data); a
      // first batch larger than what is left still goes out (min_one), once.
      const size_t free = c.fetch_memory_account().available();
      if (free == 0) continue;
      limit = std::min(limit, free);
      if (item < defer.size() && defer[item]) {
        c.fetch_deferred().deferred(tp, start.value());
        ++pass.deferred;
        continue;
      }
      c.fetch_deferred().read(tp, start.value());
    }
    auto data = p->log().read(start, limit, upper, /*min_one=*/pass.bytes == 0, /*share=*/true);
    if (!data) {
      if (data.error().code == storage::storage_errc::offset_out_of_range) {
        pout.error_code = code(error_code::offset_out_of_range);
      } else {
        log::get("server").error("read from {} failed: {}", tp, data.error().message);
        pout.error_code = code(error_code::kafka_storage_error);
      }
      pass.answer_now = true;
      continue;
    }
    const auto bytes = data->bytes();
    if (bytes.empty()) continue;
    pass.bytes += bytes.size();
    if (throttled) pass.throttled_bytes += int64_t(bytes.size());
    auto& out = pass.out_by_topic[name];
    out.first += bytes.size();
    out.second += count_records(bytes);
    budget = budget > bytes.size() ? budget - bytes.size() : 0;
    if (follower == no_node) pass.leases.push_back(c.fetch_memory_account().lease(bytes.size()));
    if (data->shared.owner) {
      pass.leases.push_back(std::move(data->shared.owner));
      pout.records = bytes;
    } else {
      pass.buffers.push_back(std::move(data->data));
      const auto& buf = pass.buffers.back();
      pout.records = std::span<const uint8_t>(buf.data(), buf.size());
    }
    if (read_committed) {
      // Kafka's collectAbortedTransactions over what is returned: the consumer drops the records
      // of these producers from these first offsets up to their ABORT markers.
      for (const auto& a : p->log().collect_aborted_txns(start, end_of(*pout.records, start))) {
        auto& out = pout.aborted_transactions->emplace_back();
        out.producer_id = a.producer_id;
        out.first_offset = a.first_offset;
      }
    }
  }
}

// The device reads the next read pass would wait for (partition_log::prepare_read), started in
// the background. Only partitions hosted here that the client may read; the pass checks the rest
// (leadership, epochs, ranges) again after the wait, as it does after any suspension.
prepared_reads prepare_reads(core& c, const req_t& req, int16_t v, std::span<const fetch_partition_params> items,
                             bool follower, const std::function<bool(const std::string&)>& may_read) {
  prepared_reads out;
  // Followers are never left out: a follower lists its partitions in a fixed order, and the
  // replication of one behind a partition that always has new data must not wait for a lull.
  if (!follower) out.defer.assign(items.size(), false);
  // At most what the pass can return: the request's max_bytes, and for consumers what the
  // broker-wide fetch memory has left (the pass reads nothing when it is spent). Each partition
  // is counted at its own limit, as if it returned that much.
  size_t budget = req.max_bytes > 0 ? size_t(req.max_bytes) : 0;
  if (!follower) budget = std::min(budget, c.fetch_memory_account().available());
  std::string name;
  for (size_t item = 0; item < items.size(); ++item) {
    const auto& part = items[item];
    if (budget == 0) break;
    name = part.key.topic;
    if (v >= 13 && !c.topic(part.key.topic_id, &name)) continue;
    if (may_read && !may_read(name)) continue;
    topic_partition tp{name, partition_id{part.key.partition}};
    replication::partition* p = c.partition(tp);
    if (!p) continue;
    const size_t limit = std::min(budget, size_t(std::max(part.max_bytes, 0)));
    bool refused = false;
    auto reads = p->log().prepare_read(offset{part.fetch_offset}, limit, &refused);
    const bool on_device =
        refused || std::any_of(reads.begin(), reads.end(), [](const auto& r) { return !r.done(); });
    const bool deferrable = !follower && on_device && c.fetch_deferred().may_defer(tp, part.fetch_offset);
    if (deferrable) out.defer[item] = true;
    auto& to = deferrable ? out.left_out : out.waited;
    for (auto& r : reads) to.push_back(std::move(r));
    budget -= limit;
  }
  return out;
}

// Returns once every read is done, without blocking the io thread: each completion is posted to
// this coroutine's executor (the io thread, which alone counts them down). A read that finishes
// after the coroutine was destroyed (shutdown) posts nothing.
boost::asio::awaitable<void> wait_for(std::vector<storage::device_read> reads) {
  if (reads.empty()) co_return;
  struct state {
    std::mutex m;
    bool live = true;
    size_t left = 0;
    boost::asio::steady_timer* timer = nullptr;
  };
  auto ex = co_await boost::asio::this_coro::executor;
  boost::asio::steady_timer timer(ex, boost::asio::steady_timer::time_point::max());
  auto st = std::make_shared<state>();
  st->left = reads.size();
  st->timer = &timer;
  struct guard {
    std::shared_ptr<state> st;
    ~guard() {
      std::lock_guard lk(st->m);
      st->live = false;
    }
  } g{st};
  for (const auto& r : reads) {
    r.on_done([st, ex] {
      std::lock_guard lk(st->m);
      if (!st->live) return;
      boost::asio::post(ex, [st] {
        std::lock_guard lk(st->m);
        if (st->live && --st->left == 0) st->timer->cancel();
      });
    });
  }
  if (st->left > 0) (void)co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
}

// What the session cache needs of each answered partition, in read order.
std::vector<fetch_partition_outcome> outcomes_of(const resp_t& resp) {
  std::vector<fetch_partition_outcome> out;
  for (const auto& t : resp.responses)
    for (const auto& p : t.partitions)
      out.push_back(fetch_partition_outcome{p.records && !p.records->empty(), p.high_watermark, p.log_start_offset,
                                            p.error_code != 0,
                                            p.diverging_epoch.epoch >= 0 || p.diverging_epoch.end_offset >= 0,
                                            p.preferred_read_replica >= 0});
  return out;
}

// Drops the partitions an incremental answer leaves out (keep: one flag per partition, in order)
// and the topics left empty.
void keep_only(resp_t& resp, const std::vector<bool>& keep) {
  size_t i = 0;
  for (auto& t : resp.responses) {
    std::vector<resp_t::partition_data> kept;
    for (auto& p : t.partitions)
      if (keep[i++]) kept.push_back(std::move(p));
    t.partitions = std::move(kept);
  }
  std::erase_if(resp.responses, [](const auto& t) { return t.partitions.empty(); });
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
  if (auto* q = c.quorum(); q && v >= raft_fetch_min_version && is_metadata_fetch(req, v)) {
    if (!cluster_authorized(ctx, security::acl_operation::cluster_action)) {  // only the quorum's replicas
      resp_t resp;
      resp.error_code = code(error_code::cluster_authorization_failed);
      co_return resp;
    }
    ctx.quota_exempt = true;  // a controller's replica: Kafka exempts cluster actions from request quotas
    co_return co_await quorum_fetch(*q, ctx, req);
  }
  const int32_t replica = v >= 15 ? req.replica_state.replica_id : req.replica_id;
  // A follower of a cluster broker: only registered brokers fetch as replicas (CVE-2018-1288).
  const bool follower = replica >= 0 && c.quorum() && c.image().brokers().contains(node_id(replica));
  ctx.quota_exempt = ctx.quota_exempt || follower;  // Kafka: a follower's fetch is exempt from request quotas
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
  auto& sessions = c.fetch_sessions();
  std::vector<fetch_key> forgotten = forgotten_of(req, v);
  auto fctx = sessions.open(v, req.session_id, req.session_epoch, follower, requested_of(req, v), forgotten,
                           c.clk().monotonic_ms());
  if (fctx.what == fetch_session_cache::context::kind::error) {
    resp_t resp;
    resp.error_code = code(fctx.error);
    co_return resp;
  }

  // Client quotas (consumers only): no more at once than the fetch quota's window allows, as
  // Kafka caps fetch.max.bytes (and min_bytes with it).
  const bool quota_applies = !follower && c.client_quotas().enabled(client_quota_kind::fetch);
  if (quota_applies) {
    const double window_bytes =
        c.client_quotas().max_value_in_window(client_quota_kind::fetch, quota_user(ctx), quota_client_id(ctx));
    if (window_bytes < double(req.max_bytes)) req.max_bytes = int32_t(std::max(window_bytes, 1.0));
    req.min_bytes = std::min(req.min_bytes, req.max_bytes);
  }
  const int64_t deadline = c.clk().monotonic_ms() + std::max(req.max_wait_ms, 0);
  std::vector<topic_partition> wanted;
  auto pass = std::make_shared<fetch_pass>();
  // Consumers need READ on each topic, followers CLUSTER_ACTION on the cluster (Kafka's rules).
  std::function<bool(const std::string&)> may_read;
  if (ctx.authz && ctx.authz->enabled()) {
    if (follower) {
      const bool cluster_action = cluster_authorized(ctx, security::acl_operation::cluster_action);
      may_read = [cluster_action](const std::string&) { return cluster_action; };
    } else {
      may_read = [&ctx](const std::string& topic) {
        return authorized(ctx, security::acl_operation::read, security::resource_type::topic, topic);
      };
    }
  }
  for (bool first = true;; first = false) {
    *pass = fetch_pass{};
    // Reads below the tail cache come from the device: wait for them here, then read from memory.
    // A consumer's partitions whose bytes are still on the device are left out when the others
    // return records (prepared_reads); when nothing else does, the pass waits for every read.
    auto prepared = prepare_reads(c, req, v, fctx.partitions, follower, may_read);
    const node_id fetcher = follower ? node_id(replica) : no_node;
    co_await wait_for(std::move(prepared.waited));
    read_all(c, req, v, fctx.partitions, *pass, wanted, fetcher, first, may_read, prepared.defer);
    if (pass->deferred > 0 && pass->bytes < size_t(std::max(req.min_bytes, 1)) && !pass->answer_now) {
      // Too little without them: wait for their reads too, and read every partition again.
      *pass = fetch_pass{};
      co_await wait_for(std::move(prepared.left_out));
      read_all(c, req, v, fctx.partitions, *pass, wanted, fetcher, first, may_read);
    }
    const int64_t now = c.clk().monotonic_ms();
    if (pass->answer_now || pass->bytes >= size_t(std::max(req.min_bytes, 1)) || now >= deadline ||
        wanted.empty())
      break;
    // A follower whose fetch session lacks a partition this broker just began to lead answers now
    // and asks again with it (fetch_waiters::notify_replica); while its metadata has yet to show it
    // the partition, it asks again soon (awaiting_join).
    const bool joining = fetcher != no_node && c.waiters().awaiting_join(fetcher, wanted, now);
    const int64_t wait_ms = joining ? std::min(deadline - now, fetch_waiters::join_poll_ms) : deadline - now;
    if (co_await c.waiters().wait(wanted, wait_ms, fetcher) == fetch_waiters::woken::replica || joining) break;
  }
  if (quota_applies) {
    // Over the fetch quota: an empty answer with the throttle time (Kafka's
    // getThrottledResponse); what was read does not count, and the session stays as it was.
    const double bytes = double(pass->resp.encoded_size(v));
    if (const int32_t throttle_ms = throttle_for(c, ctx, client_quota_kind::fetch, bytes); throttle_ms > 0) {
      c.client_quotas().unrecord(client_quota_kind::fetch, quota_user(ctx), quota_client_id(ctx), bytes,
                                 c.clk().monotonic_ms());
      resp_t empty;
      empty.throttle_time_ms = throttle_ms;
      if (fctx.what == fetch_session_cache::context::kind::incremental && fctx.session)
        empty.session_id = fctx.session->id();
      co_return empty;
    }
  }
  {
    const auto outcomes = outcomes_of(pass->resp);
    std::vector<bool> keep;
    pass->resp.session_id = sessions.finish(fctx, outcomes, keep, c.clk().monotonic_ms());
    if (fctx.what == fetch_session_cache::context::kind::incremental) keep_only(pass->resp, keep);
  }
  // The records views point into pass->buffers: hand them to the request context, which lives
  // until the response is encoded.
  for (auto& b : pass->buffers) ctx.owned_buffers.push_back(std::move(b));
  // Their fetch_memory shares are given back, and the shared buffers the other views point into
  // released, once the response is written.
  if (!pass->leases.empty())
    ctx.memory_lease = std::make_shared<std::vector<std::shared_ptr<const void>>>(std::move(pass->leases));
  // The bytes sent for throttled partitions count against the leader's quota (Kafka records them
  // whether or not the follower is in the ISR).
  if (follower && pass->throttled_bytes > 0) c.quotas().leader.record(pass->throttled_bytes, c.clk().monotonic_ms());
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
