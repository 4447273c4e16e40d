// The simulated cluster behind raft_tests and raft_sim: see sim.h.
#include "sim.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <unordered_map>

#include <fmt/format.h>

namespace gregor::raft::sim {

namespace {

constexpr int64_t step_ms = 5;

// Data payloads start with their 8-byte proposal id; a leader change is named by its epoch.
uint64_t payload_id(const entry& e) {
  if (e.kind == entry_kind::voters) {
    uint64_t h = 3ULL << 61;
    for (auto& v : e.voters) h = mix(h ^ uint64_t(uint32_t(v.id.value())));
    return (3ULL << 61) | (h >> 3);
  }
  if (e.kind == entry_kind::leader_change) {
    return (1ULL << 62) | (uint64_t(uint32_t(e.epoch.value())) << 20) |
           uint64_t(uint32_t(e.leader_change.leader.value()));
  }
  uint64_t id = 0;
  if (e.payload.size() >= 8) std::memcpy(&id, e.payload.data(), 8);
  return id;
}

uint64_t identity(const entry& e) { return entry_identity(e); }

uuid directory_of(node_id id) { return uuid{0xd1d1, uint64_t(id.value())}; }

// Snapshot bytes: the voter count and ids (8 bytes each; none while the config's set rules), then
// 24 bytes per applied entry.
bytes encode_snapshot_voters(const std::vector<node_id>& voters) {
  bytes b(8 + voters.size() * 8);
  uint64_t n = voters.size();
  std::memcpy(b.data(), &n, 8);
  for (size_t i = 0; i < voters.size(); ++i) {
    int64_t id = voters[i].value();
    std::memcpy(b.data() + 8 + i * 8, &id, 8);
  }
  return b;
}

size_t snapshot_voters_size(const bytes& b) {
  uint64_t n = 0;
  if (b.size() >= 8) std::memcpy(&n, b.data(), 8);
  return 8 + size_t(n) * 8;
}

std::optional<voter_set> decode_snapshot_voters(const bytes& b) {
  if (b.size() < 8) return std::nullopt;
  uint64_t n = 0;
  std::memcpy(&n, b.data(), 8);
  if (n == 0 || b.size() < 8 + n * 8) return std::nullopt;
  voter_set s;
  for (uint64_t i = 0; i < n; ++i) {
    int64_t id = 0;
    std::memcpy(&id, b.data() + 8 + i * 8, 8);
    s.push_back(voter{node_id{int32_t(id)}, directory_of(node_id{int32_t(id)}), {}});
  }
  return s;
}

}  // namespace

// One simulated machine: its durable disk, its volatile outputs, its state machine.
struct cluster::node_state {
  node_id id;
  bool voter = false;
  bool up = true;
  std::unique_ptr<replica> core;
  persisted_state disk;            // durable
  std::deque<output> pending;      // taken from the core, not yet durable
  int64_t next_sync_ms = 0;
  // State machine: every applied entry, in order; a snapshot is exactly this list.
  struct applied_entry {
    int64_t base;
    uint64_t ident;
    uint64_t id;
  };
  std::vector<applied_entry> applied;
  std::set<uint64_t> applied_ids;
  offset applied_end{0};
  leader_epoch applied_last_epoch{0};
  std::vector<node_id> applied_voters;  // the latest committed voters entry (empty: the config's)
  offset snapshot_end{0};
  int64_t restart_at_ms = -1;      // buggify: a quick reboot is due then
};

cluster::cluster(uint64_t seed, options opts) : _rng(mix(seed + 0x1234567)), _opts(opts) {
  for (int i = 1; i <= _opts.voters; ++i) _voters.push_back(node_id{i});
  int total = _opts.voters + _opts.observers;
  for (int i = 1; i <= total; ++i) {
    auto n = std::make_unique<node_state>();
    n->id = node_id{i};
    n->voter = i <= _opts.voters;
    _nodes.push_back(std::move(n));
  }
  if (_opts.faults) {
    _loss = double(random() % 11) / 100.0;        // 0..10 %
    _duplication = double(random() % 6) / 100.0;  // 0..5 %
    _delay_max_ms = 1 + int64_t(random() % 50);
  }
  for (auto& n : _nodes) {
    n->core = std::make_unique<replica>(make_config(n->id), persisted_state{}, _now_ms);
    drain(*n);
  }
}

cluster::~cluster() = default;

config cluster::make_config(node_id id) const {
  config c;
  c.self = id;
  c.voters = _voters;
  c.fetch_bytes_max = 1500;  // small, so fetches hit their bounds
  c.fetch_entries_max = _opts.fetch_entries_max;
  c.snapshot_chunk_bytes_max = 200;  // snapshots come in several chunks
  c.uncommitted_entries_max = 64;
  c.directory_id = directory_of(id);
  c.snapshot_voters = decode_snapshot_voters;
  c.seed = mix(_rng ^ uint64_t(id.value()));
  return c;
}

uint64_t cluster::random() {
  _rng = mix(_rng + 0x9e3779b97f4a7c15ULL);
  return _rng;
}

bool cluster::chance(double p) { return double(random() % 1000000) < p * 1000000.0; }

cluster::node_state& cluster::state(node_id id) { return *_nodes[size_t(id.value() - 1)]; }

replica* cluster::node(node_id id) { return state(id).core.get(); }

void cluster::fail(const std::string& what) {
  if (!_outcome.ok) return;
  _outcome.ok = false;
  _outcome.failure = fmt::format("t={}ms: {}", _now_ms, what);
}

// ---------------------------------------------------------------------------------------------
// Node plumbing: take outputs, make them durable later, then send and apply.

void cluster::drain(node_state& n) {
  output out = n.core->take_output();
  if (out.empty()) return;
  // Checked at once: a leader may crash before the end of the step.
  if (out.leadership && out.leadership->self_role == role::leader) check_leader(n);
  n.pending.push_back(std::move(out));
}

void cluster::sync(node_state& n) {
  uint64_t last = 0;
  std::vector<output> done;
  while (!n.pending.empty()) {
    output out = std::move(n.pending.front());
    n.pending.pop_front();
    if (auto why = persist(n.disk, out); !why.empty()) {
      fail(fmt::format("node {}: {}", n.id, why));
      return;
    }
    last = out.sequence;
    done.push_back(std::move(out));
  }
  if (last == 0) return;
  n.core->persisted(last);
  bool fragile = false;
  for (auto& out : done) {
    for (auto& m : out.messages) {
      send(n.id, m);
      if (auto* v = std::get_if<vote_response>(&m.body)) fragile |= v->vote_granted && !v->pre_vote;
    }
    if (out.leadership && out.leadership->self_role == role::leader) fragile = true;
    if (out.snapshot_to_load) {
      // Load: the state machine becomes exactly the snapshot's contents.
      const bytes& b = *out.snapshot_to_load->data;
      n.applied.clear();
      n.applied_ids.clear();
      n.applied_voters.clear();
      if (auto v = decode_snapshot_voters(b))
        for (auto& x : *v) n.applied_voters.push_back(x.id);
      for (size_t i = snapshot_voters_size(b); i + 24 <= b.size(); i += 24) {
        int64_t base;
        uint64_t ident, id;
        std::memcpy(&base, b.data() + i, 8);
        std::memcpy(&ident, b.data() + i + 8, 8);
        std::memcpy(&id, b.data() + i + 16, 8);
        n.applied_ids.insert(id);
        auto it = _checker.committed().find(base);
        if (it != _checker.committed().end() && it->second != ident)
          fail(fmt::format("node {} loaded a snapshot disagreeing at offset {}", n.id, base));
        n.applied.push_back({base, ident, id});
      }
      n.applied_end = out.snapshot_to_load->id.end_offset;
      n.applied_last_epoch = out.snapshot_to_load->id.epoch;
      n.snapshot_end = n.applied_end;
      ++_outcome.counters.snapshots;
    }
    for (auto& e : out.committed) apply(n, e);
  }
  if (_opts.faults && _opts.buggify && fragile && _now_ms < _opts.fault_ms && chance(0.2)) {
    crash(n.id);
    n.restart_at_ms = _now_ms + int64_t(random() % 60);  // a quick reboot
    return;
  }
  drain(n);
  maybe_snapshot(n);
}

void cluster::apply(node_state& n, const entry& e) {
  if (e.base != n.applied_end) {
    fail(fmt::format("node {} applies offset {} but expected {}", n.id, e.base, n.applied_end));
    return;
  }
  uint64_t ident = identity(e);
  if (auto why = _checker.record_applied(n.id, e, n.core->epoch()); !why.empty()) fail(why);
  n.applied.push_back({e.base.value(), ident, payload_id(e)});
  n.applied_ids.insert(payload_id(e));
  if (e.kind == entry_kind::voters) {
    n.applied_voters.clear();
    for (auto& v : e.voters) n.applied_voters.push_back(v.id);
  }
  n.applied_end = e.end();
  n.applied_last_epoch = e.epoch;
}

void cluster::maybe_snapshot(node_state& n) {
  if (!n.up || n.applied_end - n.snapshot_end < 12 || !chance(0.3)) return;
  // The state machine's voter set at its applied end is the core's there: check, then write it.
  std::vector<node_id> core_voters;
  for (auto& v : n.core->voters_at(n.applied_end)) core_voters.push_back(v.id);
  std::vector<node_id> sm_voters = n.applied_voters.empty() ? _voters : n.applied_voters;
  if (core_voters != sm_voters)
    fail(fmt::format("node {} core's voter set at {} differs from its state machine's", n.id,
                     n.applied_end));
  bytes b = encode_snapshot_voters(n.applied_voters);
  const size_t head = b.size();
  b.resize(head + n.applied.size() * 24);
  for (size_t i = 0; i < n.applied.size(); ++i) {
    std::memcpy(b.data() + head + i * 24, &n.applied[i].base, 8);
    std::memcpy(b.data() + head + i * 24 + 8, &n.applied[i].ident, 8);
    std::memcpy(b.data() + head + i * 24 + 16, &n.applied[i].id, 8);
  }
  auto data = std::make_shared<const bytes>(std::move(b));
  // The state machine writes its snapshot durably, then tells the core.
  n.disk.snapshot = snapshot_id{n.applied_end, n.applied_last_epoch};
  n.disk.snapshot_bytes = data;
  n.snapshot_end = n.applied_end;
  n.core->snapshot_taken(n.applied_end, n.applied_last_epoch, data);
  drain(n);
}

// ---------------------------------------------------------------------------------------------
// Network

void cluster::send(node_id from, const outbound_message& m) {
  ++_outcome.counters.messages;
  if (_blocked.contains({from.value(), m.to.value()})) return;
  if (chance(_loss)) return;
  int copies = chance(_duplication) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    int64_t delay = 1 + int64_t(random() % uint64_t(_delay_max_ms));
    // Now and then a message is stuck for seconds and arrives long stale.
    if (_opts.faults && _now_ms < _opts.fault_ms && chance(0.002))
      delay += int64_t(random() % 4000);
    _network.push(in_flight{_now_ms + delay, _network_seq++, from, m.to, m.body});
  }
}

void cluster::deliver_due() {
  while (!_network.empty() && _network.top().deliver_ms <= _now_ms) {
    in_flight f = _network.top();
    _network.pop();
    if (f.to.value() < 1 || f.to.value() > int32_t(_nodes.size())) continue;
    node_state& n = state(f.to);
    if (!n.up || _blocked.contains({f.from.value(), f.to.value()})) continue;
    n.core->step(f.from, f.body);
    drain(n);
  }
}

// ---------------------------------------------------------------------------------------------
// Checks

void cluster::record_committed(node_state& n) {
  if (auto why = _checker.record_committed(n.id, *n.core); !why.empty()) fail(why);
}

void cluster::check_leader(node_state& n) {
  if (auto why = _checker.check_leader(n.id, *n.core); !why.empty()) fail(why);
}

void cluster::check() {
  for (auto& n : _nodes) {
    if (!n->up) continue;
    record_committed(*n);
    check_leader(*n);
    check_voter_changes(*n);
  }
}

// KIP-853's rules as every replica sees them: its voter set is its log's latest voters entry (or
// the base below its log start), and a leader never has two voters entries of its own epoch above
// its high watermark (one change at a time; entries of earlier epochs it inherited may be
// committed without it knowing yet).
void cluster::check_voter_changes(node_state& n) {
  replica& r = *n.core;
  const entry* latest = nullptr;
  for (auto it = r.log().rbegin(); it != r.log().rend() && !latest; ++it) {
    if (it->kind == entry_kind::voters) latest = &*it;
  }
  if (latest && latest->voters != r.voters())
    fail(fmt::format("node {}'s voter set is not its latest voters entry (at {})", n.id,
                     latest->base));
  if (r.current_role() == role::leader) {
    int mine = 0;  // one change at a time: at most one of this epoch's voters entries uncommitted
    for (auto& e : r.log())
      mine += e.kind == entry_kind::voters && e.epoch == r.epoch() && e.base >= r.high_watermark();
    if (mine > 1) fail(fmt::format("leader {} has {} uncommitted voter changes", n.id, mine));
  }
  bool self_listed = false;
  for (auto& v : r.voters()) self_listed |= v.id == n.id;
  if (self_listed != r.is_voter())
    fail(fmt::format("node {} is_voter() disagrees with its voter set", n.id));
}

// Log matching: two logs holding an entry with the same base offset and epoch are identical up to
// and including it.
void cluster::check_logs() {
  std::vector<std::pair<node_id, const replica*>> up;
  for (auto& n : _nodes)
    if (n->up) up.emplace_back(n->id, n->core.get());
  if (auto why = _checker.check_logs(up); !why.empty()) fail(why);
}

// ---------------------------------------------------------------------------------------------
// Driving

void cluster::advance(int64_t ms) {
  int64_t until = _now_ms + ms;
  while (_now_ms < until && _outcome.ok) {
    _now_ms += step_ms;
    ++_steps;
    deliver_due();
    for (auto& n : _nodes) {
      if (!n->up) continue;
      n->core->tick(_now_ms);
      drain(*n);
      if (_now_ms >= n->next_sync_ms && !n->pending.empty()) {
        sync(*n);
        n->next_sync_ms = _now_ms + int64_t(random() % uint64_t(_opts.disk_latency_ms_max));
      }
    }
    check();
    if (_steps % 40 == 0) check_logs();
  }
}

bool cluster::run_until(const std::function<bool()>& done, int64_t ms_max) {
  int64_t until = _now_ms + ms_max;
  while (_now_ms < until && _outcome.ok) {
    if (done()) return true;
    advance(step_ms);
  }
  return _outcome.ok && done();
}

std::optional<node_id> cluster::leader() const {
  std::optional<node_id> best;
  leader_epoch best_epoch{-1};
  for (auto& n : _nodes) {
    if (n->up && n->core->current_role() == role::leader && n->core->epoch() > best_epoch) {
      best = n->id;
      best_epoch = n->core->epoch();
    }
  }
  return best;
}

void cluster::isolate(node_id id) {
  for (auto& n : _nodes) {
    if (n->id == id) continue;
    _blocked.insert({id.value(), n->id.value()});
    _blocked.insert({n->id.value(), id.value()});
  }
}

void cluster::block(node_id from, node_id to) { _blocked.insert({from.value(), to.value()}); }

void cluster::heal() { _blocked.clear(); }

void cluster::crash(node_id id) {
  node_state& n = state(id);
  if (!n.up) return;
  ++_outcome.counters.crashes;
  n.up = false;
  n.core.reset();
  n.pending.clear();  // never made durable: lost
}

void cluster::restart(node_id id) {
  node_state& n = state(id);
  if (n.up) return;
  n.up = true;
  n.restart_at_ms = -1;
  n.applied.clear();
  n.applied_ids.clear();
  n.applied_voters.clear();
  n.applied_end = offset{0};
  n.applied_last_epoch = leader_epoch{0};
  n.snapshot_end = offset{0};
  n.next_sync_ms = _now_ms;
  // The state machine may have written a snapshot the log prefix deletion did not follow yet.
  n.core = std::make_unique<replica>(make_config(id), restore(n.disk), _now_ms);
  _checker.restarted(id, *n.core);
  drain(n);
}

bool cluster::propose_marker(uint64_t id) {
  auto l = leader();
  if (!l) return false;
  bytes payload(8);
  std::memcpy(payload.data(), &id, 8);
  auto r = node(*l)->propose({proposal{std::move(payload), 1}});
  drain(state(*l));
  return r.has_value();
}

bool cluster::applied_everywhere(uint64_t id) const {
  for (auto& n : _nodes) {
    if (n->up && !n->applied_ids.contains(id)) return false;
  }
  return true;
}

void cluster::maybe_propose() {
  if (!chance(0.1)) return;
  auto l = leader();
  if (!l) return;
  std::vector<proposal> batches;
  int n = 1 + int(random() % 3);
  for (int i = 0; i < n; ++i) {
    uint64_t id = _next_id++;
    bytes payload(8 + random() % 200);
    std::memcpy(payload.data(), &id, 8);
    batches.push_back(proposal{std::move(payload), 1 + int32_t(random() % 3)});
  }
  (void)node(*l)->propose(std::move(batches));
  drain(state(*l));
}

void cluster::nemesis() {
  // Crashes and restarts.
  for (auto& n : _nodes) {
    if (n->up && chance(_opts.crash_chance)) crash(n->id);
    else if (!n->up && (chance(0.01) || (n->restart_at_ms >= 0 && _now_ms >= n->restart_at_ms)))
      restart(n->id);
  }
  // Network weather: every so often, a new partition.
  if (chance(0.004)) {
    heal();
    switch (random() % 4) {
      case 0: break;  // whole again
      case 1: isolate(node_id{1 + int32_t(random() % _nodes.size())}); break;
      case 2: {  // one-way cuts
        int cuts = 1 + int(random() % 4);
        for (int i = 0; i < cuts; ++i) {
          block(node_id{1 + int32_t(random() % _nodes.size())},
                node_id{1 + int32_t(random() % _nodes.size())});
        }
        break;
      }
      case 3: {  // two sides
        std::vector<bool> side(_nodes.size());
        for (auto&& s : side) s = random() % 2;
        for (size_t a = 0; a < _nodes.size(); ++a)
          for (size_t b = 0; b < _nodes.size(); ++b)
            if (side[a] != side[b]) block(node_id{int32_t(a + 1)}, node_id{int32_t(b + 1)});
        break;
      }
    }
  }
  // A leader that shuts down gracefully now and then.
  if (chance(0.0005)) {
    if (auto l = leader()) {
      node(*l)->resign();
      drain(state(*l));
    }
  }
}

void cluster::maybe_change_voters() {
  if (!chance(0.02)) return;
  auto l = leader();
  if (!l) return;
  replica& r = *node(*l);
  node_id target{1 + int32_t(random() % _nodes.size())};
  bool is_voter = false;
  for (auto& v : r.voters()) is_voter |= v.id == target;
  bool accepted = false;
  if (is_voter) {
    if (r.voters().size() <= 2) return;  // keep a quorum that can lose one node to a crash
    accepted = r.remove_voter(target, directory_of(target)).has_value();
  } else {
    accepted = r.add_voter(voter{target, directory_of(target), {}}).has_value();
  }
  if (accepted) ++_outcome.counters.voter_changes;
  drain(state(*l));
}

outcome cluster::run() {
  while (_now_ms < _opts.fault_ms && _outcome.ok) {
    if (_opts.faults) nemesis();
    if (_opts.faults) maybe_change_voters();
    maybe_propose();
    advance(step_ms);
  }
  if (!_outcome.ok) return _outcome;
  // The faults stop: whole network, no loss, every node up.
  int64_t healed_ms = _now_ms;
  heal();
  _loss = 0;
  _duplication = 0;
  for (auto& n : _nodes) restart(n->id);
  uint64_t marker = (1ULL << 61) | _next_id++;
  leader_epoch proposed_in{-1};
  bool done = run_until(
      [&] {
        if (applied_everywhere(marker)) return true;
        auto l = leader();
        if (l && node(*l)->epoch() != proposed_in) {
          // Propose once per leader: a new leader may have lost an uncommitted marker.
          if (propose_marker(marker)) proposed_in = node(*l)->epoch();
        }
        return false;
      },
      _opts.liveness_ms_max);
  if (_outcome.ok && !done) {
    std::string roles;
    for (auto& n : _nodes) {
      std::string voters;
      for (auto& v : n->core->voters()) voters += fmt::format("{}{}", voters.empty() ? "" : ",", v.id);
      roles += fmt::format(" n{}:{}@{} hw={} end={} voters={{{}}}", n->id,
                           to_string(n->core->current_role()), n->core->epoch(),
                           n->core->high_watermark(), n->core->log_end_offset(), voters);
    }
    fail(fmt::format("liveness: no new commit applied everywhere {} ms after the faults stopped;{}",
                     _opts.liveness_ms_max, roles));
  }
  _outcome.counters.liveness_ms = _now_ms - healed_ms;
  if (_outcome.ok) check_logs();
  // Committed entries survive every crash: each node's log (or snapshot, below its log start)
  // holds every entry committed below its high watermark, unchanged.
  for (auto& n : _nodes) {
    if (!_outcome.ok) break;
    if (auto why = _checker.check_committed_kept(n->id, *n->core); !why.empty()) fail(why);
  }
  _outcome.counters.committed = int64_t(_checker.committed().size());
  _outcome.counters.elections = _checker.elections();
  return _outcome;
}

options options_for_seed(uint64_t seed) {
  options o;
  o.voters = seed % 2 ? 5 : 3;
  o.observers = int(seed % 3);
  uint64_t profile = mix(seed);
  static constexpr double crash_chances[] = {0.0005, 0.0015, 0.004};
  static constexpr int64_t disk_latencies_ms[] = {1, 15, 60};
  static constexpr int32_t fetch_entries[] = {1, 2, 8};
  o.crash_chance = crash_chances[profile % 3];
  o.disk_latency_ms_max = disk_latencies_ms[(profile >> 8) % 3];
  o.fetch_entries_max = fetch_entries[(profile >> 16) % 3];
  o.buggify = (profile >> 24) % 2;
  return o;
}

outcome run_seed(uint64_t seed) {
  cluster c(seed, options_for_seed(seed));
  outcome o = c.run();
  if (!o.ok) o.failure = fmt::format("seed={} {}", seed, o.failure);
  return o;
}

}  // namespace gregor::raft::sim
