// The simulated Gregor cluster behind cluster_sim_tests and cluster_sim: see cluster_sim.h and
// README.md. The glue here reproduces, without Asio, what server/metadata_quorum.cc,
// raft_node.cc, active_controller.cc, broker_lifecycle.cc, replica_manager.cc, core.cc
// (apply_metadata), handlers/fetch.cc (the follower branch) and handlers/produce.cc (acks=all)
// do around the pure cores; the cores themselves are Gregor's.
#include "cluster_sim.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <variant>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gregor/base/clock.h"
#include "gregor/base/log.h"
#include "gregor/controller/metadata_batch.h"
#include "gregor/controller/metadata_image.h"
#include "gregor/controller/quorum_controller.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/raft/replica.h"
#include "gregor/replication/partition_manager.h"
#include "gregor/storage/log_manager.h"
#include "sim_support.h"
#include "../../../src/server/cluster_rules.h"
#include "../../../src/server/handlers/topic_errors.h"
#include "../../../src/server/proposal_barrier.h"

namespace gregor::cluster_sim {
namespace {

namespace rs = raft::sim;
namespace md = protocol::metadata;
namespace fs = std::filesystem;
using controller::controller_errc;

constexpr int64_t step_ms = 5;
// Kafka's settings, scaled down so a run covers many sessions: broker.session.timeout.ms,
// broker.heartbeat.interval.ms, replica.lag.time.max.ms. The rest are Gregor's constants.
constexpr int64_t session_timeout_ms = 3000;
constexpr int64_t heartbeat_interval_ms = 500;
constexpr int64_t lifecycle_retry_ms = 250;       // broker_lifecycle retry_ms
constexpr int64_t call_timeout_ms = 3000;
constexpr int64_t replica_lag_time_max_ms = 3000;
constexpr int64_t isr_check_interval_ms = 250;    // replica_manager
constexpr int64_t isr_pending_max_ms = 10000;     // replica_manager
constexpr int64_t alter_timeout_ms = 10000;       // replica_manager's AlterPartition call
constexpr int64_t controller_tick_ms = 250;       // active_controller tick_interval_ms
constexpr int64_t rebalance_interval_ms = 5000;   // leader.imbalance.check.interval (scaled)
constexpr int64_t fetch_timeout_ms = 2000;
constexpr int64_t fetch_backoff_ms = 50;
constexpr int64_t produce_timeout_ms = 5000;      // the producer's request.timeout.ms
constexpr int64_t checkpoint_interval_ms = 1000;  // replication-offset-checkpoint
constexpr int32_t min_insync_replicas = 2;
constexpr int16_t bootstrap_metadata_version = 30;
const node_id client_id{99};

// ---- messages on the simulated network ----

// The answer of a controller operation: ok, NOT_CONTROLLER, or the controller's error.
struct ctl_status {
  bool not_controller = false;
  std::optional<controller_errc> error;
  bool ok() const { return !not_controller && !error; }
};
struct register_req {
  controller::broker_registration reg;
};
struct register_resp {
  ctl_status status;
  int64_t epoch = -1;
};
struct heartbeat_req {
  controller::broker_heartbeat h;
};
struct heartbeat_resp {
  ctl_status status;
  controller::heartbeat_reply reply;
};
struct alter_req {
  controller::alter_partition_request r;
  topic_partition tp;
};
struct alter_resp {
  ctl_status status;
  topic_partition tp;
};
struct create_topic_req {
  controller::topic_request t;
};
struct create_topic_resp {
  ctl_status status;
  std::string name;
};
enum class perr : uint8_t {
  none, not_leader, fenced_epoch, unknown_epoch, out_of_range, not_enough_replicas, not_enough_after_append,
  timed_out, storage
};
struct fetch_req {
  topic_partition tp;
  int64_t broker_epoch = -1;
  leader_epoch current{0};
  offset fetch_offset{0};
  int32_t last_fetched_epoch = -1;
};
struct fetch_resp {
  topic_partition tp;
  perr err = perr::none;
  int32_t diverging_epoch = -1;
  int64_t diverging_end = -1;
  int64_t high_watermark = -1;
  int64_t log_start = -1;
  std::vector<uint8_t> records;
};
struct produce_req {
  topic_partition tp;
  uint64_t write_id = 0;
};
struct produce_resp {
  topic_partition tp;
  uint64_t write_id = 0;
  perr err = perr::none;
  int64_t base = -1;
};
using body = std::variant<raft::message, register_req, register_resp, heartbeat_req, heartbeat_resp, alter_req,
                          alter_resp, create_topic_req, create_topic_resp, fetch_req, fetch_resp, produce_req,
                          produce_resp>;

struct in_flight {
  int64_t deliver_ms;
  uint64_t seq;
  node_id from;
  node_id to;
  uint64_t token;
  body b;
  bool operator>(const in_flight& o) const {
    return deliver_ms != o.deliver_ms ? deliver_ms > o.deliver_ms : seq > o.seq;
  }
};

// GREGOR_SIM_TRACE=1: the events of a run (crashes, replica transitions, acknowledgements,
// truncations, ISR changes) on stdout, to read a failing seed's story.
bool tracing() {
  static const bool on = [] {
    const char* v = std::getenv("GREGOR_SIM_TRACE");
    return v && *v && *v != '0';
  }();
  return on;
}

std::string tp_name(const topic_partition& tp) { return fmt::format("{}-{}", tp.topic, tp.partition.value()); }

uint64_t hash_bytes(std::span<const uint8_t> b, uint64_t h = 0) {
  size_t i = 0;
  for (; i + 8 <= b.size(); i += 8) {
    uint64_t w = 0;
    for (size_t k = 0; k < 8; ++k) w |= uint64_t(b[i + k]) << (8 * k);
    h = rs::mix(h ^ w);
  }
  uint64_t tail = b.size();
  for (; i < b.size(); ++i) tail = (tail << 8) | b[i];
  return rs::mix(h ^ tail);
}

// The image as Kafka's records, encoded as one batch: equal images give equal fingerprints.
uint64_t fingerprint(const controller::metadata_image& img) {
  auto records = img.to_records();
  if (records.empty()) return 0;
  auto b = controller::encode_data_batch(offset(0), leader_epoch(0), 0, records);
  return hash_bytes(b);
}

// "offset:epoch:value ..." of a whole log, for failure messages.
std::string describe_log(const storage::partition_log& log) {
  auto data = log.read(log.log_start_offset(), log.size_bytes() + 1, log.log_end_offset(), true);
  if (!data) return "unreadable";
  std::string out;
  std::span<const uint8_t> rest(data->data.data(), data->data.size());
  while (auto h = protocol::parse_batch_header(rest)) {
    if (h->total_size() > rest.size()) break;
    (void)protocol::for_each_record(rest.first(h->total_size()), [&](const protocol::record_view& rv) {
      out += fmt::format("{}:e{}:{} ", rv.offset, h->partition_leader_epoch, rv.value ? std::string(*rv.value) : "");
    });
    rest = rest.subspan(h->total_size());
  }
  return out;
}

// ---- one simulated machine ----

struct node {
  node_id id;
  bool is_controller = false;
  bool up = true;
  int64_t paused_until = -1;  // SIGSTOP: nothing runs until then
  uint64_t incarnation = 0;

  // The metadata quorum member (metadata_quorum + raft_node).
  std::unique_ptr<raft::replica> core;
  raft::persisted_state disk;
  std::deque<raft::output> pending;
  int64_t next_sync_ms = 0;
  controller::metadata_image image;
  offset applied{0};
  leader_epoch applied_epoch{0};
  offset snapshot_end{0};

  // Controller (active_controller).
  struct proposal_wait {
    offset end{0};
    leader_epoch epoch{0};
    std::function<void(bool)> done;
  };
  std::unique_ptr<controller::quorum_controller> qc;
  std::deque<proposal_wait> proposals;
  // Answers decided without records wait for the proposals made before them (proposal_barrier).
  server::proposal_barrier barrier;
  struct deferred_answer {
    server::proposal_barrier::mark_t mark;
    std::function<void(bool)> answer;  // false: NOT_CONTROLLER
  };
  std::deque<deferred_answer> deferred;
  int64_t next_controller_tick_ms = 0;
  int64_t next_rebalance_ms = 0;

  // Broker (core + broker_lifecycle + replica_manager).
  bool metadata_caught_up = false;  // the image may drive the replicas (see options)
  fs::path dir;
  std::unique_ptr<storage::log_manager> logs;
  std::unique_ptr<replication::partition_manager> pm;
  uuid incarnation_id;
  int64_t broker_epoch = -1;
  int64_t previous_epoch = -1;
  bool fenced = true;
  uint64_t lifecycle_token = 0;
  int64_t lifecycle_deadline_ms = -1;
  int64_t next_lifecycle_ms = 0;
  struct fetcher {
    uint64_t token = 0;
    int64_t deadline_ms = -1;
    int64_t next_ms = 0;
    leader_epoch asked_epoch{0};
    node_id asked_leader = no_node;
  };
  std::map<topic_partition, fetcher> fetchers;
  std::map<topic_partition, int64_t> pending_since;
  struct alter_wait {
    uint64_t token = 0;        // 0: not in flight, resend at resend_ms
    int64_t deadline_ms = 0;
    int64_t resend_ms = 0;
    leader_epoch epoch{0};
    controller::alter_partition_request request;
  };
  std::map<topic_partition, alter_wait> alters;
  int64_t next_isr_ms = 0;
  int64_t next_checkpoint_ms = 0;
  struct produce_wait {
    uint64_t token;
    topic_partition tp;
    uint64_t write_id;
    offset base;
    offset end;
    int64_t deadline_ms;
  };
  std::vector<produce_wait> produce_waits;
  // Checker state for this incarnation: the high watermark of each partition it leads.
  std::map<topic_partition, std::pair<leader_epoch, offset>> leader_hw;

  bool running(int64_t now) const { return up && now >= paused_until; }
};

// ---- the cluster ----

class cluster {
 public:
  cluster(uint64_t seed, options opts);
  ~cluster();
  outcome run();

 private:
  // plumbing
  void fail(const std::string& what);
  node& at(node_id id);
  raft::config make_config(node_id id);
  void send(node_id from, node_id to, uint64_t token, body b);
  void deliver_due();
  void deliver(in_flight& f);
  void drain(node& n);
  void sync(node& n);
  void apply_entry(node& n, const raft::entry& e, bool& metadata_changed);
  void load_snapshot(node& n, const raft::install_snapshot& s);
  void maybe_snapshot(node& n);
  void crash(node& n);
  void restart(node& n);
  void open_broker_storage(node& n);
  // controller
  void activate(node& n);
  void deactivate(node& n);
  void maybe_reset(node& n);
  void commit(node& n, controller::record_batch_t records, std::function<void(bool)> done);
  // active_controller::after_proposed: `answer(true)` once every proposal made so far committed,
  // `answer(false)` (NOT_CONTROLLER) if one failed or the controller term ended first.
  void defer(node& n, std::function<void(bool)> answer);
  void settle_deferred(node& n);
  void reset_barrier(node& n);
  void controller_tick(node& n);
  void on_controller_request(node& n, node_id from, uint64_t token, body& b);
  // broker
  void apply_metadata(node& n);
  void maybe_publish(node& n);
  void broker_tick(node& n);
  void send_alter(node& n, const topic_partition& tp);
  void on_fetch(node& n, node_id from, uint64_t token, const fetch_req& r);
  void on_fetch_response(node& n, node_id from, uint64_t token, fetch_resp& r);
  void on_produce(node& n, node_id from, uint64_t token, const produce_req& r);
  void settle_produce(node& n);
  // client and nemesis
  void client_tick(bool writes);
  void on_client_message(node_id from, body& b);
  void nemesis();
  std::optional<node_id> known_controller_leader();
  const controller::metadata_image* freshest_image();
  // checks
  void check_step();
  void check_images();
  bool quiescent(std::string& why);
  const node* active_controller() const;
  std::string dump();
  void final_checks();

  rs::random_source _rng;
  uint64_t _seed;
  options _opts;
  manual_clock _clk{0};
  int64_t _now_ms = 0;
  outcome _outcome;
  fs::path _root;
  std::vector<std::unique_ptr<node>> _nodes;  // controllers 1..C, then brokers
  std::vector<node_id> _voters;
  std::priority_queue<in_flight, std::vector<in_flight>, std::greater<>> _network;
  uint64_t _seq = 0;
  uint64_t _next_token = 1;
  std::set<std::pair<int32_t, int32_t>> _blocked;
  double _loss = 0, _duplication = 0;
  int64_t _delay_max_ms = 1;
  int64_t _steps = 0;
  rs::raft_checker _raft;
  std::map<int64_t, uint64_t> _image_at;  // applied offset -> image fingerprint
  offset _counted_until{0};               // committed entries counted in the stats
  std::map<std::pair<topic_partition, int32_t>, int32_t> _partition_leaders;  // (tp, epoch) -> broker
  // client
  std::vector<topic_partition> _tps;
  std::set<std::string> _topics_created;
  int64_t _next_admin_ms = 0;
  uint64_t _next_write = 1;
  std::map<uint64_t, std::pair<topic_partition, int64_t>> _writes_out;  // id -> (tp, give-up time)
  std::map<topic_partition, std::map<int64_t, uint64_t>> _acked;  // tp -> offset -> write id
  std::set<topic_partition> _acked_after_heal;
  bool _healing = false;
};

cluster::cluster(uint64_t seed, options opts) : _rng(seed), _seed(seed), _opts(opts) {
  static std::atomic<uint64_t> counter{0};
  fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  _root = base / fmt::format("gregor-csim-{}-{}-{}", ::getpid(), seed, counter++);
  fs::remove_all(_root);
  fs::create_directories(_root);
  for (int i = 1; i <= _opts.controllers; ++i) _voters.push_back(node_id{i});
  for (int i = 1; i <= _opts.controllers + _opts.brokers; ++i) {
    auto n = std::make_unique<node>();
    n->id = node_id{i};
    n->is_controller = i <= _opts.controllers;
    if (!n->is_controller) n->dir = _root / fmt::format("broker-{}", i);
    _nodes.push_back(std::move(n));
  }
  if (_opts.faults) {
    _loss = double(_rng.below(6)) / 100.0;        // 0..5 %
    _duplication = double(_rng.below(4)) / 100.0;  // 0..3 %
    _delay_max_ms = 1 + int64_t(_rng.below(30));
  }
  // The topics, with explicit assignments drawn from the seed (the controller's own placement
  // seeds from the random topic id, which would make a run irreproducible).
  for (int t = 0; t < _opts.topics; ++t) {
    for (int p = 0; p < _opts.partitions; ++p)
      _tps.push_back(topic_partition{fmt::format("t{}", t), partition_id{p}});
  }
  for (auto& n : _nodes) restart(*n);
  _outcome.counters.crashes = 0;
}

cluster::~cluster() {
  for (auto& n : _nodes) {
    n->pm.reset();
    n->logs.reset();
  }
  std::error_code ec;
  fs::remove_all(_root, ec);
}

#define TRACE(...)                                                    \
  do {                                                                \
    if (tracing()) fmt::print("t={} {}\n", _now_ms, fmt::format(__VA_ARGS__)); \
  } while (0)

void cluster::fail(const std::string& what) {
  if (!_outcome.ok) return;
  _outcome.ok = false;
  _outcome.failure = fmt::format("t={}ms: {}", _now_ms, what);
}

node& cluster::at(node_id id) { return *_nodes[size_t(id.value() - 1)]; }

raft::config cluster::make_config(node_id id) {
  raft::config c;
  c.self = id;
  c.voters = _voters;
  c.directory_id = uuid{0xd1d1, uint64_t(id.value())};
  c.fetch_bytes_max = 4096;
  c.fetch_entries_max = 16;
  c.snapshot_chunk_bytes_max = 1024;
  c.seed = _rng.next();
  return c;
}

// ---- network ----

void cluster::send(node_id from, node_id to, uint64_t token, body b) {
  ++_outcome.counters.messages;
  if (_blocked.contains({from.value(), to.value()})) return;
  if (_rng.chance(_loss)) return;
  int copies = _rng.chance(_duplication) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    int64_t delay = 1 + int64_t(_rng.below(uint64_t(_delay_max_ms)));
    if (_opts.faults && !_healing && _rng.chance(0.001)) delay += int64_t(_rng.below(3000));
    _network.push(in_flight{_now_ms + delay, _seq++, from, to, token, i + 1 < copies ? b : std::move(b)});
  }
}

void cluster::deliver_due() {
  std::vector<in_flight> deferred;
  while (!_network.empty() && _network.top().deliver_ms <= _now_ms && _outcome.ok) {
    in_flight f = _network.top();
    _network.pop();
    if (f.to == client_id) {
      on_client_message(f.from, f.b);
      continue;
    }
    if (f.to.value() < 1 || f.to.value() > int32_t(_nodes.size())) continue;
    node& n = at(f.to);
    if (!n.up || _blocked.contains({f.from.value(), f.to.value()})) continue;
    if (n.paused_until > _now_ms) {  // a stopped process reads its socket when it resumes
      f.deliver_ms = n.paused_until;
      deferred.push_back(std::move(f));
      continue;
    }
    deliver(f);
  }
  for (auto& f : deferred) {
    f.seq = _seq++;
    _network.push(std::move(f));
  }
}

void cluster::deliver(in_flight& f) {
  node& n = at(f.to);
  if (auto* m = std::get_if<raft::message>(&f.b)) {
    n.core->step(f.from, *m);
    drain(n);
    return;
  }
  if (n.is_controller) {
    on_controller_request(n, f.from, f.token, f.b);
    return;
  }
  if (auto* r = std::get_if<fetch_req>(&f.b)) return on_fetch(n, f.from, f.token, *r);
  if (auto* r = std::get_if<fetch_resp>(&f.b)) return on_fetch_response(n, f.from, f.token, *r);
  if (auto* r = std::get_if<produce_req>(&f.b)) return on_produce(n, f.from, f.token, *r);
  if (auto* r = std::get_if<register_resp>(&f.b)) {
    if (f.token != n.lifecycle_token) return;
    n.lifecycle_token = 0;
    if (r->status.ok()) {
      n.broker_epoch = n.previous_epoch = r->epoch;
      n.fenced = true;
      n.next_lifecycle_ms = _now_ms;  // heartbeat at once
      maybe_publish(n);
    } else {
      n.next_lifecycle_ms = _now_ms + lifecycle_retry_ms;
    }
    return;
  }
  if (auto* r = std::get_if<heartbeat_resp>(&f.b)) {
    if (f.token != n.lifecycle_token) return;
    n.lifecycle_token = 0;
    n.next_lifecycle_ms = _now_ms + lifecycle_retry_ms;
    if (r->status.error && (*r->status.error == controller_errc::stale_broker_epoch ||
                            *r->status.error == controller_errc::broker_not_registered)) {
      n.broker_epoch = -1;
      return;
    }
    if (!r->status.ok()) return;
    n.fenced = r->reply.is_fenced;
    if (!n.fenced) n.next_lifecycle_ms = _now_ms + heartbeat_interval_ms;
    return;
  }
  if (auto* r = std::get_if<alter_resp>(&f.b)) {
    auto it = n.alters.find(r->tp);
    if (it == n.alters.end() || it->second.token != f.token) return;
    const leader_epoch epoch = it->second.epoch;
    TRACE("broker {} AlterPartition of {}: {}", n.id, tp_name(r->tp),
          r->status.ok() ? std::string("ok")
          : r->status.not_controller ? std::string("NOT_CONTROLLER")
                                     : fmt::format("error {}", int(*r->status.error)));
    if (r->status.ok()) {
      n.alters.erase(it);
      ++_outcome.counters.isr_changes;
      return;  // the pending ISR clears when the metadata shows the new partition epoch
    }
    if (_opts.alter_partition_keeps_pending) {
      // replica_manager::alter_isr: only an answer saying the change was not applied at the
      // current partition epoch lets the leader drop its pending ISR. Otherwise the outcome is
      // unknown (NOT_CONTROLLER), or the metadata will show what happened (a stale epoch): the
      // same request again until it does.
      const auto err = r->status.not_controller ? protocol::error_code::not_controller
                                                : server::to_kafka(*r->status.error);
      if (server::after_alter_partition(err) == server::alter_partition_next::retry) {
        it->second.token = 0;
        it->second.resend_ms = _now_ms + lifecycle_retry_ms;
        return;
      }
      n.alters.erase(it);
    } else {
      n.alters.erase(it);
    }
    if (auto* p = n.pm->get(r->tp); p && p->epoch() == epoch && p->isr_change_pending()) p->clear_pending_isr();
    n.pending_since.erase(r->tp);
  }
}

// ---- the metadata quorum member: raft_node's contract ----

void cluster::drain(node& n) {
  raft::output out = n.core->take_output();
  if (out.empty()) return;
  if (out.leadership && out.leadership->self_role == raft::role::leader)
    if (auto why = _raft.check_leader(n.id, *n.core); !why.empty()) fail(why);
  n.pending.push_back(std::move(out));
}

void cluster::sync(node& n) {
  uint64_t last = 0;
  std::vector<raft::output> done;
  while (!n.pending.empty()) {
    raft::output out = std::move(n.pending.front());
    n.pending.pop_front();
    if (auto why = rs::persist(n.disk, out); !why.empty()) {
      fail(fmt::format("node {}: {}", n.id, why));
      return;
    }
    last = out.sequence;
    done.push_back(std::move(out));
  }
  if (last == 0) return;
  n.core->persisted(last);
  bool metadata_changed = false;
  for (auto& out : done) {
    for (auto& m : out.messages) send(n.id, m.to, 0, raft::message(m.body));
    if (out.snapshot_to_load) {
      load_snapshot(n, *out.snapshot_to_load);
      metadata_changed = true;
    }
    for (auto& e : out.committed) apply_entry(n, e, metadata_changed);
    if (out.leadership && out.leadership->self_role != raft::role::leader) {
      // raft_node fails its proposals; metadata_quorum tells the controller it lost the lead.
      auto waits = std::move(n.proposals);
      n.proposals.clear();
      for (auto& w : waits) w.done(false);
      if (n.qc) deactivate(n);
    }
    if (!n.up) return;
  }
  if (!n.is_controller && !n.metadata_caught_up) {
    maybe_publish(n);
  } else if (metadata_changed && !n.is_controller) {
    apply_metadata(n);
  }
  drain(n);
  maybe_snapshot(n);
}

void cluster::apply_entry(node& n, const raft::entry& e, bool& metadata_changed) {
  if (e.base != n.applied) {
    fail(fmt::format("node {} applies offset {} but expected {}", n.id, e.base, n.applied));
    return;
  }
  if (auto why = _raft.record_applied(n.id, e, n.core->epoch()); !why.empty()) fail(why);
  if (e.kind == raft::entry_kind::data) {
    auto b = controller::decode_batch(e.payload);
    if (!b) {
      fail(fmt::format("node {}: committed batch at {} does not decode: {}", n.id, e.base, b.error()));
      return;
    }
    for (const auto& r : b->records) {
      if (auto why = n.image.apply(r.message); !why.empty())
        fail(fmt::format("node {}: metadata record at {} not applied: {}", n.id, e.base, why));
      if (e.base >= _counted_until && std::holds_alternative<md::fence_broker_record>(r.message))
        ++_outcome.counters.fencings;  // once per committed entry, whichever node applies it first
    }
    metadata_changed = true;
  }
  _counted_until = std::max(_counted_until, e.end());
  n.applied = e.end();
  n.applied_epoch = e.epoch;
  if (n.is_controller && e.kind == raft::entry_kind::leader_change && e.leader_change.leader == n.id &&
      e.epoch == n.core->epoch() && n.core->current_role() == raft::role::leader)
    activate(n);  // leader_ready: this node's LeaderChange committed, its image is complete
  // raft_node: a proposal succeeded only if the entry committed at its end is the one it appended.
  while (!n.proposals.empty() && n.proposals.front().end <= e.end()) {
    auto w = std::move(n.proposals.front());
    n.proposals.pop_front();
    w.done(w.end == e.end() && w.epoch == e.epoch);
  }
}

void cluster::load_snapshot(node& n, const raft::install_snapshot& s) {
  auto d = controller::decode_snapshot(*s.data);
  if (!d) {
    fail(fmt::format("node {} cannot decode the snapshot at {}: {}", n.id, s.id.end_offset, d.error()));
    return;
  }
  controller::metadata_image fresh;
  for (const auto& r : d->records)
    if (auto why = fresh.apply(r.message); !why.empty())
      fail(fmt::format("node {}: snapshot record not applied: {}", n.id, why));
  n.image = std::move(fresh);
  n.applied = s.id.end_offset;
  n.applied_epoch = s.id.epoch;
  n.snapshot_end = n.applied;
  ++_outcome.counters.metadata_snapshots;
}

// metadata_quorum::on_apply writes a snapshot of the image now and then (here: by entry count).
void cluster::maybe_snapshot(node& n) {
  if (!n.up || n.applied - n.snapshot_end < 30 || !_rng.chance(0.2)) return;
  if (n.applied > n.core->high_watermark()) return;
  auto records = n.image.to_records();
  controller::snapshot_options o;
  auto bytes = controller::encode_snapshot(controller::snapshot_id{n.applied, n.applied_epoch}, records, o);
  auto data = std::make_shared<const raft::bytes>(std::move(bytes));
  n.disk.snapshot = raft::snapshot_id{n.applied, n.applied_epoch};
  n.disk.snapshot_bytes = data;
  n.snapshot_end = n.applied;
  n.core->snapshot_taken(n.applied, n.applied_epoch, data);
  drain(n);
}

// Kafka's BrokerServer installs its metadata publishers (the replica manager among them) only once
// the broker has caught up to its own registration record: by then the image holds what the
// registration did (a new incarnation is fenced and its old leaderships have moved on), so a
// restarted broker never acts on what its previous incarnation was. Gregor's core applies every
// batch at once (options::metadata_catch_up = false).
void cluster::maybe_publish(node& n) {
  if (n.metadata_caught_up) return;
  if (_opts.metadata_catch_up && !server::caught_up_with_registration(n.broker_epoch, n.applied)) return;
  TRACE("broker {} caught up with the metadata at {} (registration at {})", n.id, n.applied, n.broker_epoch);
  n.metadata_caught_up = true;
  apply_metadata(n);
}

// ---- controller: active_controller ----

void cluster::activate(node& n) {
  controller::quorum_controller_settings s;
  s.broker_session_timeout_ms = session_timeout_ms;
  s.metadata_version = bootstrap_metadata_version;
  n.qc = std::make_unique<controller::quorum_controller>(s);
  n.qc->activate(n.image, _now_ms);
  reset_barrier(n);
  n.next_rebalance_ms = _now_ms + rebalance_interval_ms;
  auto boot = n.qc->bootstrap_records();
  if (!boot.empty()) commit(n, std::move(boot), [](bool) {});
}

void cluster::deactivate(node& n) {
  n.qc.reset();
  reset_barrier(n);
}

void cluster::reset_barrier(node& n) {
  n.barrier.reset();
  settle_deferred(n);
}

void cluster::defer(node& n, std::function<void(bool)> answer) {
  const auto mark = n.barrier.mark();
  const auto st = n.barrier.check(mark);
  if (st != server::proposal_barrier::state::wait) {
    answer(st == server::proposal_barrier::state::ready && n.qc != nullptr);
    return;
  }
  n.deferred.push_back(node::deferred_answer{mark, std::move(answer)});
}

void cluster::settle_deferred(node& n) {
  std::vector<std::pair<std::function<void(bool)>, bool>> due;
  std::erase_if(n.deferred, [&](node::deferred_answer& d) {
    const auto st = n.barrier.check(d.mark);
    if (st == server::proposal_barrier::state::wait) return false;
    due.emplace_back(std::move(d.answer), st == server::proposal_barrier::state::ready);
    return true;
  });
  for (auto& [fn, ok] : due) fn(ok);
}

void cluster::maybe_reset(node& n) {
  if (n.barrier.failed() && n.barrier.in_flight() == 0 && n.qc && n.core->current_role() == raft::role::leader) {
    n.qc->rewind(n.image, _now_ms);
    reset_barrier(n);
  }
}

void cluster::commit(node& n, controller::record_batch_t records, std::function<void(bool)> done) {
  if (records.empty()) {
    done(true);
    return;
  }
  raft::proposal p;
  p.record_count = int32_t(records.size());
  p.payload = controller::encode_data_batch(offset(0), leader_epoch(0), _clk.now_ms(), records);
  const uint64_t ticket = n.barrier.begin();
  auto r = n.core->propose({std::move(p)});
  drain(n);
  if (!r) {
    n.barrier.end(ticket, false);  // active_controller: refuse everything until rewound
    maybe_reset(n);
    settle_deferred(n);
    done(false);
    return;
  }
  node* np = &n;
  n.proposals.push_back(node::proposal_wait{r->last_end, n.core->epoch(), [this, np, ticket, done](bool ok) {
                                               np->barrier.end(ticket, ok);
                                               maybe_reset(*np);
                                               settle_deferred(*np);
                                               done(ok);
                                             }});
}

void cluster::controller_tick(node& n) {
  if (!n.qc || n.barrier.failed() || _now_ms < n.next_controller_tick_ms) return;
  n.next_controller_tick_ms = _now_ms + controller_tick_ms;
  auto records = n.qc->tick(_now_ms);
  if (_now_ms >= n.next_rebalance_ms) {
    n.next_rebalance_ms = _now_ms + rebalance_interval_ms;
    for (auto& r : n.qc->balance_leaders()) records.push_back(std::move(r));
  }
  commit(n, std::move(records), [](bool) {});
}

void cluster::on_controller_request(node& n, node_id from, uint64_t token, body& b) {
  const bool active = n.qc && !n.barrier.failed();
  auto status_of = [](const controller::controller_error& e) { return ctl_status{false, e.code}; };
  const ctl_status not_controller{true, std::nullopt};
  if (auto* r = std::get_if<register_req>(&b)) {
    if (!active) return send(n.id, from, token, register_resp{not_controller, -1});
    const int64_t at_offset = n.core->log_end_offset().value();
    auto d = n.qc->register_broker(r->reg, at_offset, _now_ms);
    if (!d) {
      const ctl_status st = status_of(d.error());
      return defer(n, [this, &n, from, token, st, not_controller](bool ok) {
        send(n.id, from, token, register_resp{ok ? st : not_controller, -1});
      });
    }
    const int64_t epoch = d->reply;
    commit(n, std::move(d->records), [this, &n, from, token, epoch, not_controller](bool ok) {
      send(n.id, from, token, register_resp{ok ? ctl_status{} : not_controller, epoch});
    });
  } else if (auto* r = std::get_if<heartbeat_req>(&b)) {
    if (!active) return send(n.id, from, token, heartbeat_resp{not_controller, {}});
    auto d = n.qc->heartbeat(r->h, _now_ms);
    if (!d) {
      const ctl_status st = status_of(d.error());
      return defer(n, [this, &n, from, token, st, not_controller](bool ok) {
        send(n.id, from, token, heartbeat_resp{ok ? st : not_controller, {}});
      });
    }
    const auto reply = d->reply;
    auto answer = [this, &n, from, token, reply, not_controller](bool ok) {
      send(n.id, from, token, heartbeat_resp{ok ? ctl_status{} : not_controller, reply});
    };
    if (d->records.empty()) return defer(n, std::move(answer));
    commit(n, std::move(d->records), std::move(answer));
  } else if (auto* r = std::get_if<alter_req>(&b)) {
    const topic_partition tp = r->tp;
    if (!active) return send(n.id, from, token, alter_resp{not_controller, tp});
    auto d = n.qc->alter_partition(r->r);
    if (!d) {
      const ctl_status st = status_of(d.error());
      return defer(n, [this, &n, from, token, st, tp, not_controller](bool ok) {
        send(n.id, from, token, alter_resp{ok ? st : not_controller, tp});
      });
    }
    auto answer = [this, &n, from, token, tp, not_controller](bool ok) {
      send(n.id, from, token, alter_resp{ok ? ctl_status{} : not_controller, tp});
    };
    if (d->records.empty()) return defer(n, std::move(answer));
    commit(n, std::move(d->records), std::move(answer));
  } else if (auto* r = std::get_if<create_topic_req>(&b)) {
    const std::string name = r->t.name;
    if (!active) return send(n.id, from, token, create_topic_resp{not_controller, name});
    auto d = n.qc->create_topic(r->t, false);
    if (!d) {
      // e.g. TOPIC_ALREADY_EXISTS for a creation proposed but not yet committed: answered only
      // once it commits (NOT_CONTROLLER if a failover drops it).
      const ctl_status st = status_of(d.error());
      return defer(n, [this, &n, from, token, st, name, not_controller](bool ok) {
        send(n.id, from, token, create_topic_resp{ok ? st : not_controller, name});
      });
    }
    auto answer = [this, &n, from, token, name, not_controller](bool ok) {
      send(n.id, from, token, create_topic_resp{ok ? ctl_status{} : not_controller, name});
    };
    if (d->records.empty()) return defer(n, std::move(answer));
    commit(n, std::move(d->records), std::move(answer));
  }
}

// ---- broker: core::apply_metadata, broker_lifecycle, replica_manager ----

void cluster::apply_metadata(node& n) {
  if (!n.pm) return;
  std::vector<replication::replica_transition> ts;
  for (const auto& [name, t] : n.image.topics()) {
    for (const auto& p : t.partitions) {
      if (std::find(p.replicas.begin(), p.replicas.end(), n.id) == p.replicas.end()) continue;
      topic_partition tp{name, p.id};
      replication::replica_set set{p.leader_epoch, p.leader, p.replicas, p.isr, p.partition_epoch};
      auto r = n.pm->apply(tp, t.id, storage::log_config{}, set, _now_ms);
      if (!r) {
        fail(fmt::format("broker {}: cannot open {}: {}", n.id, tp_name(tp), r.error().message));
        return;
      }
      if (*r) ts.push_back(**r);
    }
  }
  std::vector<topic_partition> gone;
  n.pm->for_each([&](replication::partition& p) {
    const auto* t = n.image.topic(p.tp().topic);
    const auto idx = size_t(p.tp().partition.value());
    const bool assigned = t && t->id == p.log().topic_id() && idx < t->partitions.size() &&
                          std::find(t->partitions[idx].replicas.begin(), t->partitions[idx].replicas.end(), n.id) !=
                              t->partitions[idx].replicas.end();
    if (!assigned) gone.push_back(p.tp());
  });
  for (auto& tp : gone) {
    auto r = n.pm->stop(tp);
    if (!r) fail(fmt::format("broker {}: cannot stop {}: {}", n.id, tp_name(tp), r.error().message));
    else ts.push_back(*r);
  }
  // replica_manager::on_transitions
  for (const auto& t : ts) {
    TRACE("broker {} {} {} in epoch {} (leader {}, metadata applied to {}, isr {})", n.id,
          t.kind == replication::transition_kind::become_leader     ? "leads"
          : t.kind == replication::transition_kind::become_follower ? "follows"
                                                                     : "stops",
          tp_name(t.tp), t.epoch, t.leader, n.applied,
          n.pm->get(t.tp) ? fmt::format("{}", fmt::join(n.pm->get(t.tp)->replicas().isr, ",")) : std::string("-"));
    n.fetchers.erase(t.tp);
    n.pending_since.erase(t.tp);
    if (t.kind == replication::transition_kind::become_follower && t.leader != no_node && t.leader != n.id)
      n.fetchers[t.tp] = node::fetcher{};
  }
  settle_produce(n);  // the fetch waiters wake the acks=all producers on every transition
}

void cluster::broker_tick(node& n) {
  // broker_lifecycle: register, then heartbeat.
  if (n.lifecycle_token && _now_ms >= n.lifecycle_deadline_ms) {
    n.lifecycle_token = 0;
    n.next_lifecycle_ms = _now_ms + lifecycle_retry_ms;
  }
  if (!n.lifecycle_token && _now_ms >= n.next_lifecycle_ms) {
    node_id leader = n.core->leader().leader;
    if (leader == no_node || leader == n.id) {
      n.next_lifecycle_ms = _now_ms + lifecycle_retry_ms;
    } else {
      n.lifecycle_token = _next_token++;
      n.lifecycle_deadline_ms = _now_ms + call_timeout_ms;
      if (n.broker_epoch < 0) {
        controller::broker_registration reg;
        reg.id = n.id;
        reg.incarnation_id = n.incarnation_id;
        reg.endpoints.push_back(controller::broker_endpoint{"PLAINTEXT", fmt::format("b{}", n.id.value()), 9092, 0});
        reg.previous_broker_epoch = n.previous_epoch;
        send(n.id, leader, n.lifecycle_token, register_req{reg});
      } else {
        controller::broker_heartbeat h;
        h.id = n.id;
        h.broker_epoch = n.broker_epoch;
        h.current_metadata_offset = n.applied.value();
        send(n.id, leader, n.lifecycle_token, heartbeat_req{h});
      }
    }
  }
  // replica_manager's fetchers: one outstanding fetch per followed partition.
  for (auto it = n.fetchers.begin(); it != n.fetchers.end();) {
    auto* p = n.pm->get(it->first);
    if (!p || p->is_leader() || p->replicas().leader == no_node) {
      it = n.fetchers.erase(it);
      continue;
    }
    auto& f = it->second;
    if (f.token && _now_ms >= f.deadline_ms) {
      f.token = 0;
      f.next_ms = _now_ms + fetch_backoff_ms;
    }
    if (!f.token && _now_ms >= f.next_ms) {
      fetch_req r;
      r.tp = it->first;
      r.broker_epoch = n.broker_epoch;
      r.current = p->epoch();
      r.fetch_offset = p->log().log_end_offset();
      const auto last = p->log().latest_epoch();
      r.last_fetched_epoch = last == no_leader_epoch ? -1 : last.value();
      f.token = _next_token++;
      f.deadline_ms = _now_ms + fetch_timeout_ms;
      f.asked_epoch = p->epoch();
      f.asked_leader = p->replicas().leader;
      send(n.id, f.asked_leader, f.token, std::move(r));
    }
    ++it;
  }
  // replica_manager::isr_loop
  for (auto it = n.alters.begin(); it != n.alters.end();) {
    auto* p = n.pm->get(it->first);
    if (!p || p->epoch() != it->second.epoch || !p->isr_change_pending()) {
      it = n.alters.erase(it);  // the metadata moved on
      continue;
    }
    if (it->second.token && _now_ms >= it->second.deadline_ms) {
      if (_opts.alter_partition_keeps_pending) {
        it->second.token = 0;
        it->second.resend_ms = _now_ms;
      } else {
        p->clear_pending_isr();  // REQUEST_TIMED_OUT: replica_manager drops the pending ISR
        n.pending_since.erase(it->first);
        it = n.alters.erase(it);
        continue;
      }
    }
    if (!it->second.token && _now_ms >= it->second.resend_ms) send_alter(n, it->first);
    ++it;
  }
  if (_now_ms >= n.next_isr_ms && n.broker_epoch >= 0) {
    n.next_isr_ms = _now_ms + isr_check_interval_ms;
    struct change {
      topic_partition tp;
      uuid topic_id;
      leader_epoch epoch;
      int32_t partition_epoch;
      std::vector<node_id> isr;
    };
    std::vector<change> changes;
    n.pm->for_each([&](replication::partition& p) {
      if (!p.is_leader()) return;
      if (p.isr_change_pending()) {
        auto it = n.pending_since.find(p.tp());
        if (!_opts.alter_partition_keeps_pending && it != n.pending_since.end() &&
            _now_ms - it->second > isr_pending_max_ms) {
          p.clear_pending_isr();
          n.pending_since.erase(it);
        }
        return;
      }
      auto next = p.isr_change(_now_ms, replica_lag_time_max_ms);
      if (!next) return;
      const auto& brokers = n.image.brokers();
      const auto& isr_now = p.replicas().isr;
      std::erase_if(*next, [&](node_id r) {
        if (std::find(isr_now.begin(), isr_now.end(), r) != isr_now.end()) return false;
        auto b = brokers.find(r);
        return b == brokers.end() || b->second.fenced || b->second.in_controlled_shutdown;
      });
      if (std::is_permutation(next->begin(), next->end(), isr_now.begin(), isr_now.end())) return;
      const auto* t = n.image.topic(p.tp().topic);
      if (!t) return;
      changes.push_back(change{p.tp(), t->id, p.epoch(), p.replicas().partition_epoch, *next});
    });
    for (auto& ch : changes) {
      auto* p = n.pm->get(ch.tp);
      TRACE("broker {} proposes ISR {} for {} (epoch {}, partition epoch {})", n.id, fmt::join(ch.isr, ","),
            tp_name(ch.tp), ch.epoch, ch.partition_epoch);
      p->set_pending_isr(ch.isr);
      n.pending_since[ch.tp] = _now_ms;
      node::alter_wait w;
      w.epoch = ch.epoch;
      w.request = controller::alter_partition_request{n.id,     n.broker_epoch,     ch.topic_id, ch.tp.partition.value(),
                                                      ch.epoch, ch.partition_epoch, ch.isr};
      n.alters[ch.tp] = std::move(w);
      send_alter(n, ch.tp);
    }
  }
  if (_now_ms >= n.next_checkpoint_ms) {
    n.next_checkpoint_ms = _now_ms + checkpoint_interval_ms;
    if (auto r = n.logs->checkpoint_high_watermarks(n.pm->high_watermarks()); !r)
      fail(fmt::format("broker {}: checkpoint failed: {}", n.id, r.error().message));
  }
  settle_produce(n);
}

// replica_manager::alter_isr: one AlterPartition to the controller the quorum names.
void cluster::send_alter(node& n, const topic_partition& tp) {
  auto& w = n.alters.at(tp);
  node_id leader = n.core->leader().leader;
  if (leader == no_node || leader == n.id) {
    if (_opts.alter_partition_keeps_pending) {
      w.resend_ms = _now_ms + lifecycle_retry_ms;
      return;
    }
    if (auto* p = n.pm->get(tp)) p->clear_pending_isr();  // NOT_CONTROLLER at once
    n.pending_since.erase(tp);
    n.alters.erase(tp);
    return;
  }
  w.token = _next_token++;
  w.deadline_ms = _now_ms + alter_timeout_ms;
  send(n.id, leader, w.token, alter_req{w.request, tp});
}

// handlers/fetch.cc, the follower branch of read_all.
void cluster::on_fetch(node& n, node_id from, uint64_t token, const fetch_req& r) {
  fetch_resp out;
  out.tp = r.tp;
  auto answer = [&](perr e) {
    out.err = e;
    send(n.id, from, token, std::move(out));
  };
  if (!n.image.brokers().contains(from)) return answer(perr::not_leader);
  auto* p = n.pm->get(r.tp);
  if (!p || !p->is_leader()) return answer(perr::not_leader);
  if (r.current != p->epoch()) return answer(r.current < p->epoch() ? perr::fenced_epoch : perr::unknown_epoch);
  const auto& replicas = p->replicas().replicas;
  if (std::find(replicas.begin(), replicas.end(), from) == replicas.end()) return answer(perr::not_leader);
  const offset start = r.fetch_offset;
  if (r.last_fetched_epoch >= 0) {
    const auto eo = p->end_offset_for_epoch(leader_epoch(r.last_fetched_epoch));
    if (eo.epoch < leader_epoch(r.last_fetched_epoch) || eo.end_offset < start) {
      out.diverging_epoch = eo.epoch.value();
      out.diverging_end = eo.end_offset.value();
      out.high_watermark = p->high_watermark().value();
      out.log_start = p->log().log_start_offset().value();
      return answer(perr::none);
    }
  }
  if (start <= p->log().log_end_offset() && start >= p->log().log_start_offset() &&
      p->on_follower_fetch(from, start, _now_ms))
    settle_produce(n);
  out.high_watermark = p->high_watermark().value();
  out.log_start = p->log().log_start_offset().value();
  const offset end = p->log().log_end_offset();
  if (start > end || start < p->log().log_start_offset()) return answer(perr::out_of_range);
  if (start < end) {
    auto data = p->log().read(start, 16384, end, true);
    if (!data) return answer(perr::storage);
    out.records.assign(data->data.data(), data->data.data() + data->data.size());
  }
  answer(perr::none);
}

// replica_manager::fetch_once, the answer.
void cluster::on_fetch_response(node& n, node_id from, uint64_t token, fetch_resp& r) {
  auto it = n.fetchers.find(r.tp);
  if (it == n.fetchers.end() || it->second.token != token) return;
  auto& f = it->second;
  f.token = 0;
  f.next_ms = _now_ms + fetch_backoff_ms;
  auto* p = n.pm->get(r.tp);
  if (!p || p->is_leader() || p->epoch() != f.asked_epoch || p->replicas().leader != from) return;
  if (r.err == perr::out_of_range) {
    if (r.log_start > p->log().log_end_offset().value()) (void)p->log().truncate_fully_and_start_at(offset(r.log_start));
    return;
  }
  if (r.err != perr::none) return;
  if (r.diverging_epoch >= 0 || r.diverging_end >= 0) {
    ++_outcome.counters.truncations;
    const offset before = p->log().log_end_offset();
    auto tr = replication::truncate_after_divergence(p->log(), leader_epoch(r.diverging_epoch), offset(r.diverging_end));
    if (!tr) fail(fmt::format("broker {}: truncation of {} failed: {}", n.id, tp_name(r.tp), tr.error().message));
    else
      TRACE("broker {} truncates {} from {} to {} (leader {} says epoch {} ends at {})", n.id, tp_name(r.tp), before, *tr,
            from, r.diverging_epoch, r.diverging_end);
    f.next_ms = _now_ms;
    return;
  }
  if (!r.records.empty()) {
    auto appended = p->log().append_with_offsets(r.records);
    if (!appended) {
      fail(fmt::format("broker {}: cannot append the leader's batches of {} at {}: {}", n.id, tp_name(r.tp),
                       p->log().log_end_offset(), appended.error().message));
      return;
    }
    f.next_ms = _now_ms;
  }
  p->set_follower_high_watermark(offset(r.high_watermark));
}

// handlers/produce.cc with acks=all.
void cluster::on_produce(node& n, node_id from, uint64_t token, const produce_req& r) {
  // The answer goes to the client (from) when the wait settles.
  auto answer = [&](perr e, int64_t base) { send(n.id, from, token, produce_resp{r.tp, r.write_id, e, base}); };
  auto* p = n.pm->get(r.tp);
  if (!p || !p->is_leader()) return answer(perr::not_leader, -1);
  if (int32_t(p->isr_size()) < min_insync_replicas) return answer(perr::not_enough_replicas, -1);
  std::vector<protocol::record_input> in(1);
  in[0].value = std::to_string(r.write_id);
  protocol::batch_options bo;
  bo.base_timestamp = _clk.now_ms();
  auto batch = protocol::build_batch(in, bo);
  auto appended = p->append(batch);
  if (!appended) return answer(perr::storage, -1);
  n.produce_waits.push_back(node::produce_wait{token, r.tp, r.write_id, appended->base_offset,
                                               appended->last_offset + 1, _now_ms + produce_timeout_ms});
  settle_produce(n);
}

void cluster::settle_produce(node& n) {
  for (auto it = n.produce_waits.begin(); it != n.produce_waits.end();) {
    auto* p = n.pm->get(it->tp);
    perr e = perr::none;
    bool settled = true;
    if (!p || !p->is_leader()) e = perr::not_leader;
    else if (p->high_watermark() >= it->end)
      e = int32_t(p->isr_size()) < min_insync_replicas ? perr::not_enough_after_append : perr::none;
    else if (_now_ms >= it->deadline_ms) e = perr::timed_out;
    else settled = false;
    if (!settled) {
      ++it;
      continue;
    }
    if (e == perr::none)
      TRACE("broker {} acks write {} at {} {} (epoch {}, hw {}, isr {}, end {})", n.id, it->write_id, tp_name(it->tp),
            it->base, p->epoch(), p->high_watermark(), fmt::join(p->replicas().isr, ","), p->log().log_end_offset());
    send(n.id, client_id, it->token, produce_resp{it->tp, it->write_id, e, it->base.value()});
    it = n.produce_waits.erase(it);
  }
}

// ---- client ----

std::optional<node_id> cluster::known_controller_leader() {
  std::optional<node_id> best;
  leader_epoch epoch{-1};
  for (auto& n : _nodes) {
    if (!n->running(_now_ms)) continue;
    auto l = n->core->leader();
    if (l.leader != no_node && l.epoch > epoch) {
      best = l.leader;
      epoch = l.epoch;
    }
  }
  return best;
}

const controller::metadata_image* cluster::freshest_image() {
  const node* best = nullptr;
  for (auto& n : _nodes)
    if (!n->is_controller && n->running(_now_ms) && (!best || n->applied > best->applied)) best = n.get();
  return best ? &best->image : nullptr;
}

void cluster::client_tick(bool writes) {
  if (_topics_created.size() < size_t(_opts.topics)) {
    if (_now_ms < _next_admin_ms) return;
    _next_admin_ms = _now_ms + 500;
    auto leader = known_controller_leader();
    if (!leader) return;
    for (int t = 0; t < _opts.topics; ++t) {
      std::string name = fmt::format("t{}", t);
      if (_topics_created.contains(name)) continue;
      controller::topic_request req;
      req.name = name;
      std::vector<node_id> brokers;
      for (int b = _opts.controllers + 1; b <= _opts.controllers + _opts.brokers; ++b) brokers.push_back(node_id{b});
      for (int p = 0; p < _opts.partitions; ++p) {
        for (size_t i = brokers.size(); i > 1; --i) std::swap(brokers[i - 1], brokers[_rng.below(i)]);
        req.assignments.emplace_back(brokers.begin(), brokers.begin() + _opts.replication_factor);
      }
      req.configs["min.insync.replicas"] = std::to_string(min_insync_replicas);
      send(client_id, *leader, _next_token++, create_topic_req{req});
    }
    return;
  }
  // The producer gives up on a write whose answer was lost (delivery.timeout.ms).
  std::erase_if(_writes_out, [&](const auto& w) { return w.second.second <= _now_ms; });
  if (!writes || !_rng.chance(_opts.write_chance)) return;
  const topic_partition& tp = _tps[_rng.below(_tps.size())];
  // The client's metadata: what one running broker's image says (maybe stale).
  std::vector<node*> running;
  for (auto& n : _nodes)
    if (!n->is_controller && n->running(_now_ms)) running.push_back(n.get());
  if (running.empty()) return;
  const auto& img = running[_rng.below(running.size())]->image;
  const auto* t = img.topic(tp.topic);
  if (!t || size_t(tp.partition.value()) >= t->partitions.size()) return;
  node_id leader = t->partitions[size_t(tp.partition.value())].leader;
  if (leader == no_node) return;
  uint64_t id = _next_write++;
  _writes_out[id] = {tp, _now_ms + produce_timeout_ms + 2000};
  ++_outcome.counters.writes_sent;
  send(client_id, leader, _next_token++, produce_req{tp, id});
}

void cluster::on_client_message(node_id, body& b) {
  if (auto* r = std::get_if<create_topic_resp>(&b)) {
    // Taken as proof, as a Kafka client does: the active controller answers (success, or
    // TOPIC_ALREADY_EXISTS for a creation already proposed) only once the creation committed.
    TRACE("client: CreateTopics {}: {}", r->name,
          r->status.ok() ? std::string("ok")
          : r->status.not_controller ? std::string("NOT_CONTROLLER")
                                     : fmt::format("error {}", int(*r->status.error)));
    if (r->status.ok() || r->status.error == controller_errc::topic_already_exists) _topics_created.insert(r->name);
    return;
  }
  auto* r = std::get_if<produce_resp>(&b);
  if (!r) return;
  auto w = _writes_out.find(r->write_id);
  if (w == _writes_out.end()) return;  // a duplicate answer
  _writes_out.erase(w);
  if (r->err != perr::none) return;
  ++_outcome.counters.writes_acked;
  auto [it, fresh] = _acked[r->tp].emplace(r->base, r->write_id);
  if (!fresh && it->second != r->write_id)
    fail(fmt::format("acknowledged write lost: writes {} and {} were both acknowledged at {} offset {}", it->second,
                     r->write_id, tp_name(r->tp), r->base));
  if (_healing) _acked_after_heal.insert(r->tp);
}

// ---- nemesis ----

void cluster::crash(node& n) {
  if (!n.up) return;
  TRACE("node {} crashes", n.id);


  ++_outcome.counters.crashes;
  n.up = false;
  n.core.reset();
  n.pending.clear();  // not yet durable: lost
  n.qc.reset();
  n.proposals.clear();
  n.deferred.clear();  // the process is gone: nobody answers
  n.barrier = server::proposal_barrier{};
  if (!n.is_controller) {
    // A process crash: the partition logs keep what was written (the page cache survives), the
    // in-memory replica state is gone, and the next open scans the logs as after a crash.
    n.pm.reset();
    n.logs.reset();
    std::error_code ec;
    fs::remove(n.dir / ".kafka_cleanshutdown", ec);
  }
}

void cluster::open_broker_storage(node& n) {
  auto logs = storage::log_manager::open(n.dir, _clk);
  if (!logs) {
    fail(fmt::format("broker {}: cannot open its log directory: {}", n.id, logs.error().message));
    return;
  }
  n.logs = std::move(*logs);
  n.pm = std::make_unique<replication::partition_manager>(*n.logs, n.id);
}

void cluster::restart(node& n) {
  if (n.up && n.core) return;
  TRACE("node {} starts", n.id);
  n.up = true;
  n.paused_until = -1;
  ++n.incarnation;
  n.image = controller::metadata_image{};
  n.applied = offset{0};
  n.applied_epoch = leader_epoch{0};
  n.snapshot_end = offset{0};
  n.next_sync_ms = _now_ms;
  n.qc.reset();
  n.proposals.clear();
  n.deferred.clear();
  n.barrier = server::proposal_barrier{};
  n.broker_epoch = -1;
  n.fenced = true;
  n.lifecycle_token = 0;
  n.next_lifecycle_ms = _now_ms;
  n.fetchers.clear();
  n.pending_since.clear();
  n.alters.clear();
  n.produce_waits.clear();
  n.leader_hw.clear();
  n.metadata_caught_up = false;
  n.incarnation_id = uuid{_rng.next() | 1, _rng.next() | 1};
  if (!n.is_controller) open_broker_storage(n);
  n.core = std::make_unique<raft::replica>(make_config(n.id), rs::restore(n.disk), _now_ms);
  _raft.restarted(n.id, *n.core);
  drain(n);
}

void cluster::nemesis() {
  for (auto& n : _nodes) {
    if (n->up && _rng.chance(_opts.crash_chance)) crash(*n);
    else if (!n->up && _rng.chance(0.004)) restart(*n);
    if (n->up && n->paused_until <= _now_ms && _rng.chance(_opts.pause_chance)) {
      ++_outcome.counters.pauses;
      // Shorter or longer than the session timeout: some pauses get the broker fenced.
      n->paused_until = _now_ms + 100 + int64_t(_rng.below(2 * session_timeout_ms));
      TRACE("node {} paused until {}", n->id, n->paused_until);
    }
  }
  if (_rng.chance(0.003)) {
    ++_outcome.counters.network_changes;
    _blocked.clear();
    const int total = int(_nodes.size());
    switch (_rng.below(4)) {
      case 0: break;
      case 1: {
        int x = 1 + int(_rng.below(uint64_t(total)));
        for (int y = 1; y <= total; ++y)
          if (y != x) _blocked.insert({x, y}), _blocked.insert({y, x});
        break;
      }
      case 2:
        for (int i = 0, cuts = 1 + int(_rng.below(4)); i < cuts; ++i)
          _blocked.insert({1 + int(_rng.below(uint64_t(total))), 1 + int(_rng.below(uint64_t(total)))});
        break;
      case 3: {
        std::vector<int> side(size_t(total) + 1);
        for (auto& s : side) s = int(_rng.below(2));
        for (int a = 1; a <= total; ++a)
          for (int b = 1; b <= total; ++b)
            if (side[size_t(a)] != side[size_t(b)]) _blocked.insert({a, b});
        break;
      }
    }
  }
}

// ---- checks ----

void cluster::check_step() {
  for (auto& n : _nodes) {
    if (!n->up || !_outcome.ok) continue;
    if (auto why = _raft.record_committed(n->id, *n->core); !why.empty()) fail(why);
    if (auto why = _raft.check_leader(n->id, *n->core); !why.empty()) fail(why);
    if (n->is_controller || !n->pm) continue;
    n->pm->for_each([&](replication::partition& p) {
      if (!p.is_leader()) return;
      // No two leaders of one partition in one leader epoch.
      auto [it, fresh] = _partition_leaders.emplace(std::pair{p.tp(), p.epoch().value()}, n->id.value());
      if (fresh && p.epoch() > leader_epoch(0)) ++_outcome.counters.leader_changes;
      if (!fresh && it->second != n->id.value())
        fail(fmt::format("two leaders of {} in leader epoch {}: brokers {} and {}", tp_name(p.tp()), p.epoch(),
                         it->second, n->id));
      // The high watermark never moves back on a leader within its epoch.
      auto& seen = n->leader_hw[p.tp()];
      if (seen.first == p.epoch() && p.high_watermark() < seen.second)
        fail(fmt::format("broker {} leading {} in epoch {}: high watermark went back {} -> {}", n->id,
                         tp_name(p.tp()), p.epoch(), seen.second, p.high_watermark()));
      seen = {p.epoch(), p.high_watermark()};
      if (p.high_watermark() > p.log().log_end_offset())
        fail(fmt::format("broker {}: high watermark of {} past its log end", n->id, tp_name(p.tp())));
    });
  }
}

void cluster::check_images() {
  std::vector<std::pair<node_id, const raft::replica*>> up;
  for (auto& n : _nodes) {
    if (!n->up) continue;
    up.emplace_back(n->id, n->core.get());
    // State-machine safety of the image: every node that applied the log up to an offset holds
    // the same image there, whether it replayed the entries or loaded a snapshot.
    const uint64_t fp = fingerprint(n->image);
    auto [it, fresh] = _image_at.emplace(n->applied.value(), fp);
    if (!fresh && it->second != fp)
      fail(fmt::format("node {}'s metadata image at offset {} differs from another node's there", n->id,
                       n->applied));
    // No unclean election: a partition leader is always in its ISR; the ISR is in the replicas.
    for (const auto& [name, t] : n->image.topics()) {
      for (const auto& p : t.partitions) {
        if (p.isr.empty()) fail(fmt::format("node {}: {}-{} has an empty ISR", n->id, name, p.id.value()));
        if (p.leader != no_node && std::find(p.isr.begin(), p.isr.end(), p.leader) == p.isr.end())
          fail(fmt::format("node {}: {}-{} is led by {} outside its ISR", n->id, name, p.id.value(), p.leader));
        for (node_id r : p.isr)
          if (std::find(p.replicas.begin(), p.replicas.end(), r) == p.replicas.end())
            fail(fmt::format("node {}: {}-{} has ISR member {} outside its replicas", n->id, name, p.id.value(), r));
      }
    }
    // The active controller's speculative image is the committed one once nothing is in flight.
    if (n->qc && !n->barrier.failed() && n->barrier.in_flight() == 0 && n->proposals.empty() && fingerprint(n->qc->image()) != fp)
      fail(fmt::format("controller {}: its image with nothing in flight differs from the committed one at {}", n->id,
                       n->applied));
  }
  if (auto why = _raft.check_logs(up); !why.empty()) fail(why);
}

// The controller that is active with the most of the log applied (a deposed one may still think
// it is active until it hears of the new epoch).
const node* cluster::active_controller() const {
  const node* ctl = nullptr;
  for (auto& n : _nodes)
    if (n->is_controller && n->up && n->qc && (!ctl || n->applied > ctl->applied)) ctl = n.get();
  return ctl;
}

// After the faults: every partition has a leader, its whole replica set in the ISR, every
// replica's log as long as the leader's and the high watermark at the log end.
bool cluster::quiescent(std::string& why) {
  const node* ctl = active_controller();
  if (!ctl) return why = "no active controller", false;
  for (const auto& [id, b] : ctl->image.brokers())
    if (b.fenced) return why = fmt::format("broker {} is fenced", id), false;
  for (const auto& tp : _tps) {
    const auto* t = ctl->image.topic(tp.topic);
    if (!t) return why = fmt::format("topic {} missing", tp.topic), false;
    const auto& pi = t->partitions[size_t(tp.partition.value())];
    if (pi.leader == no_node) return why = fmt::format("{} has no leader", tp_name(tp)), false;
    if (pi.isr.size() != pi.replicas.size())
      return why = fmt::format("{} ISR {} of {} replicas", tp_name(tp), pi.isr.size(), pi.replicas.size()), false;
    node& leader = at(pi.leader);
    auto* lp = leader.pm ? leader.pm->get(tp) : nullptr;
    if (!lp || !lp->is_leader() || lp->epoch() != pi.leader_epoch)
      return why = fmt::format("{}: broker {} does not lead it yet", tp_name(tp), pi.leader), false;
    if (lp->high_watermark() != lp->log().log_end_offset())
      return why = fmt::format("{}: high watermark {} below log end {}", tp_name(tp), lp->high_watermark(),
                               lp->log().log_end_offset()),
             false;
    for (node_id r : pi.replicas) {
      node& b = at(r);
      auto* p = b.pm ? b.pm->get(tp) : nullptr;
      if (!p || p->log().log_end_offset() != lp->log().log_end_offset())
        return why = fmt::format("{}: replica {} not caught up", tp_name(tp), r), false;
    }
  }
  return true;
}

// The state of every node, for a failure message.
std::string cluster::dump() {
  std::string out;
  for (auto& n : _nodes) {
    out += fmt::format("\n  node {}: {} {}@{} applied={} hw={} end={}", n->id, n->up ? "up" : "down",
                       raft::to_string(n->core->current_role()), n->core->epoch(), n->applied,
                       n->core->high_watermark(), n->core->log_end_offset());
    if (n->is_controller) {
      out += fmt::format(" active={} refused_pending_rewind={} in_flight={}", bool(n->qc), n->barrier.failed(),
                         n->barrier.in_flight());
      continue;
    }
    out += fmt::format(" broker_epoch={} fenced={}", n->broker_epoch, n->fenced);
    if (n->pm)
      n->pm->for_each([&](replication::partition& p) {
        out += fmt::format(" [{} {} e{} hw={} end={} isr={}]", tp_name(p.tp()), p.is_leader() ? "L" : "F", p.epoch(),
                           p.high_watermark(), p.log().log_end_offset(), p.isr_size());
      });
  }
  for (auto& n : _nodes) {
    if (!n->qc) continue;
    for (const auto& [id, b] : n->image.brokers())
      out += fmt::format("\n  broker {} epoch={} fenced={}", id, b.epoch, b.fenced);
    for (const auto& [name, t] : n->image.topics())
      for (const auto& p : t.partitions)
        out += fmt::format("\n  {}-{} leader={} epoch={} isr={} replicas={}", name, p.id.value(), p.leader,
                           p.leader_epoch, p.isr.size(), p.replicas.size());
  }
  return out;
}

void cluster::final_checks() {
  for (auto& n : _nodes)
    if (auto why = _raft.check_committed_kept(n->id, *n->core); !why.empty()) fail(why);
  check_images();
  const node* ctl = active_controller();
  if (!ctl) return fail("no active controller at the end");
  for (const auto& tp : _tps) {
    const auto& pi = ctl->image.topic(tp.topic)->partitions[size_t(tp.partition.value())];
    auto* lp = at(pi.leader).pm->get(tp);
    const offset end = lp->log().log_end_offset();
    auto lead = lp->log().read(lp->log().log_start_offset(), lp->log().size_bytes() + 1, end, true);
    if (!lead) return fail(fmt::format("{}: leader read failed", tp_name(tp)));
    // Replicas are identical up to the high watermark (here: the whole log).
    for (node_id r : pi.isr) {
      auto* p = at(r).pm->get(tp);
      auto data = p->log().read(p->log().log_start_offset(), p->log().size_bytes() + 1, end, true);
      if (!data || p->log().log_start_offset() != lp->log().log_start_offset() ||
          data->data.size() != lead->data.size() ||
          !std::equal(data->data.begin(), data->data.end(), lead->data.begin()))
        return fail(fmt::format("{}: replica {} diverges from leader {} below the high watermark:\n  leader {}\n  replica {}",
                                tp_name(tp), r, pi.leader, describe_log(lp->log()), describe_log(p->log())));
    }
    // Every acknowledged write is at its offset.
    std::map<int64_t, std::string> values;
    std::span<const uint8_t> rest(lead->data.data(), lead->data.size());
    while (auto h = protocol::parse_batch_header(rest)) {
      if (h->total_size() > rest.size()) break;
      (void)protocol::for_each_record(rest.first(h->total_size()), [&](const protocol::record_view& rv) {
        values[rv.offset] = rv.value ? std::string(*rv.value) : std::string();
      });
      rest = rest.subspan(h->total_size());
    }
    for (const auto& [off, id] : _acked[tp]) {
      auto v = values.find(off);
      if (v == values.end() || v->second != std::to_string(id))
        return fail(fmt::format("acknowledged write {} lost: {} offset {} holds {}", id, tp_name(tp), off,
                                v == values.end() ? std::string("nothing") : v->second));
    }
  }
}

// ---- driving ----

outcome cluster::run() {
  const int64_t end_faults = _opts.fault_ms;
  int64_t healed_at = -1;
  bool writes_done = false;
  while (_outcome.ok) {
    _now_ms += step_ms;
    _clk.advance(step_ms);
    ++_steps;
    if (!_healing && _now_ms >= end_faults) {
      // The faults stop: whole network, no loss, every node up and running.
      _healing = true;
      healed_at = _now_ms;
      _blocked.clear();
      _loss = _duplication = 0;
      for (auto& n : _nodes) {
        restart(*n);
        n->paused_until = -1;
      }
    }
    if (_opts.faults && !_healing) nemesis();
    deliver_due();
    for (auto& n : _nodes) {
      if (!n->running(_now_ms) || !_outcome.ok) continue;
      n->core->tick(_now_ms);
      drain(*n);
      if (_now_ms >= n->next_sync_ms && !n->pending.empty()) {
        sync(*n);
        n->next_sync_ms = _now_ms + int64_t(_rng.below(uint64_t(_opts.disk_latency_ms_max)));
      }
      if (!n->running(_now_ms)) continue;
      if (n->is_controller) controller_tick(*n);
      else broker_tick(*n);
    }
    client_tick(!writes_done);
    check_step();
    if (_steps % 200 == 0) check_images();
    if (!_healing) continue;
    if (!writes_done && _acked_after_heal.size() == _tps.size()) writes_done = true;
    std::string why;
    if (writes_done && _writes_out.empty() && quiescent(why)) break;
    if (_now_ms - healed_at > _opts.heal_ms_max) {
      if (!writes_done)
        why = fmt::format("{} of {} partitions had a write acknowledged", _acked_after_heal.size(), _tps.size());
      else if (!_writes_out.empty())
        why = fmt::format("{} writes unanswered", _writes_out.size());
      else
        (void)quiescent(why);
      why += fmt::format(" (topics created: {});{}", _topics_created.size(), dump());
      fail(fmt::format("liveness: the cluster did not settle {} ms after the faults stopped: {}", _opts.heal_ms_max,
                       why));
      break;
    }
  }
  if (_outcome.ok) {
    _outcome.counters.heal_ms = _now_ms - healed_at;
    final_checks();
  }
  _outcome.counters.controller_elections = _raft.elections();
  _outcome.counters.metadata_offsets = _raft.committed().empty() ? 0 : _raft.committed().rbegin()->first + 1;
  return _outcome;
}

}  // namespace

options options_for_seed(uint64_t seed) {
  options o;
  uint64_t profile = rs::mix(seed ^ 0xc1u);
  static constexpr double crash_chances[] = {0.0003, 0.0008, 0.002};
  static constexpr double pause_chances[] = {0.0, 0.0008, 0.002};
  static constexpr int64_t disk_latencies_ms[] = {1, 10, 40};
  o.crash_chance = crash_chances[profile % 3];
  o.pause_chance = pause_chances[(profile >> 8) % 3];
  o.disk_latency_ms_max = disk_latencies_ms[(profile >> 16) % 3];
  o.brokers = 3 + int((profile >> 24) % 2);
  return o;
}

outcome run(uint64_t seed, const options& opts) {
  static const bool quiet = [] {
    log::setup("off");
    return true;
  }();
  (void)quiet;
  cluster c(seed, opts);
  outcome o = c.run();
  if (!o.ok)
    o.failure = fmt::format(
        "seed={} {} (replay: build/bin/cluster_sim {}{}--seed {}{})", seed, o.failure,
        opts.metadata_catch_up ? "" : "--no-metadata-catch-up ",
        opts.alter_partition_keeps_pending ? "" : "--alter-partition-drops-pending ", seed,
        opts.metadata_catch_up && opts.alter_partition_keeps_pending
            ? fmt::format(", or GREGOR_CLUSTER_SEED={} build/bin/cluster_sim_tests --gtest_filter='*replays*'", seed)
            : std::string());
  return o;
}

outcome run_seed(uint64_t seed) { return run(seed, options_for_seed(seed)); }

}  // namespace gregor::cluster_sim
