#include "raft_node.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gregor/base/log.h"
#include "raft_wire.h"
#include "voter_update.h"

namespace gregor::server {
namespace asio = boost::asio;
namespace md = protocol::metadata;
namespace {

spdlog::logger& lg() { return log::get("raft"); }

// A message's variant index: requests are even, their responses the next odd index.
bool is_response(const raft::message& m) { return m.index() % 2 == 1; }

raft::entry entry_of(const controller::metadata_batch& b, raft::bytes payload) {
  raft::entry e;
  e.base = b.base_offset;
  e.record_count = int32_t(b.last_offset.value() - b.base_offset.value() + 1);
  e.epoch = b.epoch;
  e.payload = std::move(payload);
  return e;
}

}  // namespace

// An inbound request parked until the core answers it (or the bound passes).
struct raft_node::pending_answer {
  explicit pending_answer(asio::io_context& io, size_t index)
      : expected_index(index), timer(io, asio::steady_timer::time_point::max()) {}
  size_t expected_index;
  asio::steady_timer timer;
  std::optional<raft::message> answer;
};

raft_node::raft_node(asio::io_context& io, options opts, raft_transport& transport, hooks h, clock& clk)
    : _io(io), _opts(std::move(opts)), _transport(transport), _hooks(std::move(h)), _clock(clk) {}

raft_node::~raft_node() {
  _life.reset();
  _stopped = true;
  _disk.join();
}

raft::bytes raft_node::encode_payload(const std::vector<controller::framed_record>& records, int64_t now_ms) {
  return controller::encode_data_batch(offset(0), leader_epoch(0), now_ms, records);
}

result<void, std::string> raft_node::start() {
  // A snapshot's voter set (KIP-853) is its VotersRecord, after the header.
  _opts.core.snapshot_voters = [](const raft::bytes& b) -> std::optional<raft::voter_set> {
    auto d = controller::decode_snapshot(b);
    if (!d || !d->voters) return std::nullopt;
    return from_voters_record(*d->voters);
  };
  auto opened = controller::metadata_log::open(_opts.dir, _clock);
  if (!opened) return failure{fmt::format("cannot open the metadata log in {}: {}", _opts.dir.string(), opened.error().message)};
  _log = std::move(*opened);
  auto rec = _log->take_recovered();
  raft::persisted_state st;
  if (rec.quorum) {
    st.quorum.epoch = leader_epoch(std::max(rec.quorum->leader_epoch.value(), 0));
    st.quorum.voted_for = rec.quorum->voted_id;
    st.quorum.leader = rec.quorum->leader_id;
  }
  if (rec.snapshot) {
    st.snapshot = raft::snapshot_id{rec.snapshot->end_offset, rec.snapshot->epoch};
    st.snapshot_bytes = std::make_shared<const raft::bytes>(std::move(rec.snapshot_bytes));
    if (rec.snapshot_contents && _hooks.load_snapshot) _hooks.load_snapshot(rec.snapshot->end_offset, rec.snapshot_contents->records);
  }
  for (const auto& b : rec.batches) {
    if (b.control) {
      const auto* lc = b.controls.empty() || !b.controls.front().body
                           ? nullptr
                           : std::get_if<md::leader_change_message>(&*b.controls.front().body);
      const auto* vr = b.controls.size() != 1 || !b.controls.front().body
                           ? nullptr
                           : std::get_if<md::voters_record>(&*b.controls.front().body);
      raft::entry e = entry_of(b, {});
      if (vr) {
        e.kind = raft::entry_kind::voters;
        e.voters = from_voters_record(*vr);
      } else if (lc) {
        e.kind = raft::entry_kind::leader_change;
        e.leader_change.leader = node_id(lc->leader_id);
        for (const auto& v : lc->voters) e.leader_change.voters.push_back(node_id(v.voter_id));
        for (const auto& v : lc->granting_voters) e.leader_change.granting_voters.push_back(node_id(v.voter_id));
      } else {
        // Other control batches carry nothing for the state machine: an empty data batch keeps
        // the offsets contiguous.
        e.payload = encode_payload({}, b.append_time_ms);
      }
      st.log.push_back(std::move(e));
      continue;
    }
    st.log.push_back(entry_of(b, encode_payload(b.records, b.append_time_ms)));
  }
  lg().info("metadata log {}: epoch {}, log [{}, {}), snapshot {}", _opts.dir.string(), st.quorum.epoch,
            rec.log_start_offset, rec.log_end_offset, rec.snapshot ? rec.snapshot->end_offset.value() : -1);
  _replica = std::make_unique<raft::replica>(_opts.core, std::move(st), _clock.monotonic_ms());
  _tick_timer = std::make_shared<asio::steady_timer>(_io);
  _disk_idle = std::make_shared<asio::steady_timer>(_io, asio::steady_timer::time_point::max());
  asio::co_spawn(_io, tick_loop(), asio::detached);
  pump();
  return ok;
}

asio::awaitable<void> raft_node::stop() {
  if (_stopped) co_return;
  if (is_leader()) {
    _replica->resign();
    pump();
  }
  _stopped = true;
  if (_tick_timer) _tick_timer->cancel();
  fail_proposals("the node is stopping");
  for (auto& [from, q] : _answers)
    for (auto& a : q) a->timer.cancel();
  while (_disk_queue > 0) {
    auto idle = _disk_idle;
    co_await idle->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (_log) {
    asio::post(_disk, [this] {
      if (auto r = _log->close(); !r) lg().error("closing the metadata log: {}", r.error().message);
    });
    _disk.join();
  }
}

asio::awaitable<void> raft_node::tick_loop() {
  auto timer = _tick_timer;
  std::weak_ptr<int> life = _life;
  while (!_stopped) {
    timer->expires_after(std::chrono::milliseconds(_opts.tick_interval_ms));
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    if (life.expired() || _stopped) break;
    _replica->tick(_clock.monotonic_ms());
    pump();
  }
}

void raft_node::pump() {
  // Outputs are handled one at a time, in order: an input that arrives while one is being handled
  // (a state machine hook proposing, a reply delivered inline) only marks that another round is due.
  if (_pumping) {
    _pump_again = true;
    return;
  }
  _pumping = true;
  do {
    _pump_again = false;
    pump_once();
  } while (_pump_again && !_stopped);
  _pumping = false;
}

void raft_node::pump_once() {
  raft::output out = _replica->take_output();
  if (out.empty()) return;
  const bool needs_disk = out.quorum || !out.log_ops.empty();
  if (!needs_disk && _disk_queue == 0) {
    after_persisted(std::move(out), "");
    return;
  }
  // Outputs reach the disk thread in order and come back in order, so a later output's messages
  // never overtake an earlier output's writes.
  ++_disk_queue;
  asio::post(_disk, [this, life = std::weak_ptr<int>(_life), out = std::move(out)]() mutable {
    std::string error;
    if (out.quorum) {
      controller::quorum_state_file q;
      q.leader_id = out.quorum->leader;
      q.leader_epoch = out.quorum->epoch;
      q.voted_id = out.quorum->voted_for;
      if (auto r = _log->write_quorum_state(q); !r) error = r.error().message;
    }
    for (const auto& op : out.log_ops) {
      if (!error.empty()) break;
      if (const auto* t = std::get_if<raft::truncate_log>(&op)) {
        if (auto r = _log->truncate_to(t->end); !r) error = r.error().message;
      } else if (const auto* a = std::get_if<raft::append_log>(&op)) {
        for (const auto& e : a->entries) {
          if (auto r = _log->append(entry_to_batch(e)); !r) {
            error = r.error().message;
            break;
          }
        }
      } else if (const auto* s = std::get_if<raft::install_snapshot>(&op)) {
        if (auto r = _log->write_snapshot(controller::snapshot_id{s->id.end_offset, s->id.epoch}, *s->data); !r)
          error = r.error().message;
      } else if (std::get_if<raft::delete_log_prefix>(&op)) {
        if (auto r = _log->delete_below_snapshot(); !r) error = r.error().message;
      }
    }
    if (error.empty() && !out.log_ops.empty())
      if (auto r = _log->flush(); !r) error = r.error().message;
    asio::post(_io, [this, life, out = std::move(out), error = std::move(error)]() mutable {
      if (life.expired()) return;
      if (--_disk_queue == 0) _disk_idle->cancel();
      after_persisted(std::move(out), std::move(error));
    });
  });
}

void raft_node::after_persisted(raft::output out, std::string disk_error) {
  if (_stopped && !disk_error.empty()) return;
  if (!disk_error.empty()) {
    // Nothing of this output may leave: a vote or an append that is not durable must not be
    // acknowledged. The node stops taking part; Kafka halts the process in this case.
    lg().critical("metadata log write failed, leaving the quorum: {}", disk_error);
    _stopped = true;
    fail_proposals("metadata log write failed: " + disk_error);
    return;
  }
  _replica->persisted(out.sequence);
  if (out.voters && _hooks.voters) _hooks.voters(*out.voters);
  for (auto& m : out.messages) dispatch(std::move(m));
  if (out.snapshot_to_load && _hooks.load_snapshot) {
    auto decoded = controller::decode_snapshot(*out.snapshot_to_load->data);
    if (decoded) _hooks.load_snapshot(out.snapshot_to_load->id.end_offset, decoded->records);
    else lg().error("cannot load the leader's snapshot: {}", decoded.error());
  }
  deliver_committed(out);
  if (out.leadership) {
    lg().info("quorum leader {} in epoch {}; this node is {}", out.leadership->leader.leader,
              out.leadership->leader.epoch, raft::to_string(out.leadership->self_role));
    if (out.leadership->self_role != raft::role::leader) fail_proposals("this node is no longer the quorum leader");
    if (_hooks.leadership) _hooks.leadership(*out.leadership);
  }
  if (!_stopped) pump();
}

void raft_node::deliver_committed(const raft::output& out) {
  for (const auto& e : out.committed) {
    if (e.kind == raft::entry_kind::leader_change && e.leader_change.leader == _opts.core.self &&
        e.epoch == _replica->epoch() && is_leader() && _hooks.leader_ready)
      _hooks.leader_ready(e.epoch);
    if (e.kind == raft::entry_kind::data) {
      auto b = controller::decode_batch(entry_to_batch(e));
      if (!b) lg().error("committed batch at {} does not decode: {}", e.base, b.error());
      else if (!b->control && !b->records.empty() && _hooks.apply)
        _hooks.apply(committed_batch{e.base, e.end(), e.epoch, std::move(b->records), e.payload.size()});
    }
    // A proposal succeeded only if the entry committed at its offsets is the one it appended (same
    // end, same epoch); anything else there means a leader change replaced it.
    while (!_proposals.empty() && _proposals.front().end <= e.end()) {
      auto& p = _proposals.front();
      if (p.end != e.end() || p.epoch != e.epoch) *p.error_out = "the proposal was lost in a leader change";
      p.done->cancel();
      _proposals.pop_front();
    }
  }
}

void raft_node::fail_proposals(const std::string& why) {
  for (auto& p : _proposals) {
    *p.error_out = why;
    p.done->cancel();
  }
  _proposals.clear();
}

void raft_node::dispatch(raft::outbound_message m) {
  if (!is_response(m.body)) {
    // Started from the queue, never inline: its answer must not be stepped in the middle of
    // handling the output that sent it.
    asio::post(_io, [this, life = std::weak_ptr<int>(_life), m = std::move(m)]() mutable {
      if (life.expired() || _stopped) return;
      asio::co_spawn(_io, send_request(std::move(m)), asio::detached);
    });
    return;
  }
  auto it = _answers.find(m.to);
  if (it == _answers.end()) return;  // the request's caller gave up
  for (auto& a : it->second) {
    if (a->expected_index != m.body.index() || a->answer) continue;
    a->answer = std::move(m.body);
    a->timer.cancel();
    return;
  }
}

asio::awaitable<void> raft_node::send_request(raft::outbound_message m) {
  std::weak_ptr<int> life = _life;
  const bool fetch = std::holds_alternative<raft::fetch_request>(m.body);
  if (fetch) {
    const int64_t wait_ms = _next_fetch_at_ms - _clock.monotonic_ms();
    if (wait_ms > 0) {
      asio::steady_timer t(_io, std::chrono::milliseconds(wait_ms));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }
  if (life.expired() || _stopped) co_return;
  const node_id to = m.to;
  auto r = co_await _transport.call(to, std::move(m.body));
  if (life.expired() || _stopped) co_return;
  if (!r) {
    lg().debug("quorum request to node {} failed: {}", to, r.error());
    co_return;  // the core resends after its request timeout
  }
  if (const auto* f = std::get_if<raft::fetch_response>(&*r))
    _next_fetch_at_ms = f->records.empty() && f->error == raft::wire_error::none
                            ? _clock.monotonic_ms() + _opts.idle_fetch_delay_ms
                            : 0;
  _replica->step(to, *r);
  pump();
}

asio::awaitable<raft::message> raft_node::handle(node_id from, raft::message request) {
  auto pa = std::make_shared<pending_answer>(_io, request.index() + 1);
  std::weak_ptr<int> life = _life;
  if (_stopped) co_return raft::message{};
  _answers[from].push_back(pa);
  _replica->step(from, request);
  pump();
  if (!pa->answer) {
    pa->timer.expires_after(std::chrono::milliseconds(_opts.core.request_timeout_ms));
    co_await pa->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (life.expired()) co_return raft::message{};
  auto& q = _answers[from];
  q.erase(std::remove(q.begin(), q.end(), pa), q.end());
  if (pa->answer) co_return std::move(*pa->answer);
  // No answer in time (the core dropped the request, or the node is stopping): an error of the
  // right type, so the caller backs off and retries.
  raft::message none;
  switch (request.index()) {
    case 0: none = raft::vote_response{raft::wire_error::not_leader_or_follower, _replica->leader(), false, false}; break;
    case 2: none = raft::begin_quorum_epoch_response{raft::wire_error::not_leader_or_follower, _replica->leader()}; break;
    case 4: none = raft::end_quorum_epoch_response{raft::wire_error::not_leader_or_follower, _replica->leader()}; break;
    case 6: {
      raft::fetch_response f;
      f.error = raft::wire_error::not_leader_or_follower;
      f.current_leader = _replica->leader();
      f.request_token = std::get<raft::fetch_request>(request).request_token;
      none = std::move(f);
      break;
    }
    default: {
      raft::fetch_snapshot_response f;
      f.error = raft::wire_error::not_leader_or_follower;
      f.current_leader = _replica->leader();
      none = std::move(f);
    }
  }
  co_return none;
}

void raft_node::take_snapshot(offset end, leader_epoch epoch, std::vector<controller::framed_record> records) {
  if (_stopped || _snapshotting || !_replica) return;
  _snapshotting = true;
  controller::snapshot_options o;
  o.append_time_ms = _clock.now_ms();
  o.last_contained_log_timestamp_ms = o.append_time_ms;
  const controller::snapshot_id id{end, epoch};
  // A dynamic voter set (KIP-853) travels in the snapshot: KRaftVersionRecord 1 and VotersRecord.
  const raft::voter_set& voters = _replica->voters_at(end);
  if (voter_set_is_dynamic(voters, _opts.core.voters)) {
    o.kraft_version = 1;
    o.voters = to_voters_record(voters);
  }
  auto data = std::make_shared<const raft::bytes>(controller::encode_snapshot(id, records, o));
  ++_disk_queue;
  asio::post(_disk, [this, life = std::weak_ptr<int>(_life), id, data] {
    std::string error;
    if (auto r = _log->write_snapshot(id, *data); !r) error = r.error().message;
    asio::post(_io, [this, life, id, data, error] {
      if (life.expired()) return;
      if (--_disk_queue == 0) _disk_idle->cancel();
      _snapshotting = false;
      if (_stopped) return;
      if (!error.empty()) {
        lg().error("cannot write the metadata snapshot at offset {}: {}", id.end_offset, error);
        return;
      }
      lg().info("metadata snapshot written at offset {} (epoch {}, {} bytes)", id.end_offset, id.epoch, data->size());
      _replica->snapshot_taken(id.end_offset, id.epoch, data);
      pump();
    });
  });
}

asio::awaitable<result<offset, std::string>> raft_node::propose(std::vector<controller::framed_record> records) {
  if (_stopped || !is_leader()) co_return failure{std::string("this node is not the quorum leader")};
  raft::proposal p;
  p.record_count = int32_t(records.size());
  p.payload = encode_payload(records, _clock.now_ms());
  auto r = _replica->propose({std::move(p)});
  if (!r) {
    co_return failure{std::string(r.error().error == raft::raft_error::too_many_pending
                                      ? "too many metadata changes are pending"
                                      : "this node is not the quorum leader")};
  }
  auto done = std::make_shared<asio::steady_timer>(_io, asio::steady_timer::time_point::max());
  auto error = std::make_shared<std::optional<std::string>>();
  _proposals.push_back(pending_proposal{r->last_end, _replica->epoch(), done, error});
  pump();
  co_await done->async_wait(asio::as_tuple(asio::use_awaitable));
  if (*error) co_return failure{**error};
  co_return r->first;
}

asio::awaitable<result<void, raft_node::voter_change_error>> raft_node::finish_voter_change(
    const result<raft::offset_range, raft::propose_error>& r, bool ack_when_committed) {
  if (!r) {
    std::string why;
    switch (r.error().error) {
      case raft::raft_error::not_leader: why = "this node is not the quorum leader"; break;
      case raft::raft_error::change_pending:
        why = "another voter change is not committed yet, or the leader has not committed in its epoch";
        break;
      case raft::raft_error::duplicate_voter: why = "the replica is already a voter"; break;
      case raft::raft_error::voter_not_found: why = "no voter has that id and directory id"; break;
      case raft::raft_error::not_caught_up:
        why = "the replica is not an observer fetching with that directory id and caught up";
        break;
      case raft::raft_error::invalid_voter: why = "the change would leave no valid voter set"; break;
      default: why = "the leader refused the change"; break;
    }
    co_return failure{voter_change_error{r.error().error, std::move(why)}};
  }
  if (!ack_when_committed) {
    pump();  // the entry is in the leader's log; replication and the commit go on without us
    co_return ok;
  }
  auto done = std::make_shared<asio::steady_timer>(_io, asio::steady_timer::time_point::max());
  auto error = std::make_shared<std::optional<std::string>>();
  _proposals.push_back(pending_proposal{r->last_end, _replica->epoch(), done, error});
  pump();
  co_await done->async_wait(asio::as_tuple(asio::use_awaitable));
  if (*error) co_return failure{voter_change_error{raft::raft_error::not_leader, **error}};
  co_return ok;
}

asio::awaitable<result<void, raft_node::voter_change_error>> raft_node::add_voter(raft::voter v,
                                                                                 bool ack_when_committed) {
  if (_stopped || !_replica) co_return failure{voter_change_error{raft::raft_error::not_leader, "the node is stopping"}};
  const auto r = _replica->add_voter(std::move(v));
  co_return co_await finish_voter_change(r, ack_when_committed);
}

asio::awaitable<result<void, raft_node::voter_change_error>> raft_node::remove_voter(node_id id, uuid directory_id) {
  if (_stopped || !_replica) co_return failure{voter_change_error{raft::raft_error::not_leader, "the node is stopping"}};
  const auto r = _replica->remove_voter(id, directory_id);
  co_return co_await finish_voter_change(r);
}

asio::awaitable<result<void, raft_node::voter_change_error>> raft_node::update_voter(raft::voter v) {
  if (_stopped || !_replica) co_return failure{voter_change_error{raft::raft_error::not_leader, "the node is stopping"}};
  const auto r = _replica->update_voter(std::move(v));
  co_return co_await finish_voter_change(r);
}

bool raft_node::voters_are_dynamic() const { return voter_set_is_dynamic(voters(), _opts.core.voters); }

}  // namespace gregor::server
