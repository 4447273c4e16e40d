// raft::replica: KRaft's election, replication, snapshot and fencing rules as a pure state machine.
#include "gregor/raft/replica.h"

#include <algorithm>

namespace gregor::raft {

std::string_view to_string(role r) {
  switch (r) {
    case role::unattached: return "unattached";
    case role::prospective: return "prospective";
    case role::candidate: return "candidate";
    case role::leader: return "leader";
    case role::resigned: return "resigned";
    case role::follower: return "follower";
  }
  return "?";
}

bool output::empty() const {
  return !quorum && log_ops.empty() && messages.empty() && !high_watermark && !snapshot_to_load &&
         committed.empty() && !leadership && !voters;
}

namespace {
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
size_t entry_bytes(const entry& e) { return e.payload.size() + 64; }
}  // namespace

replica::replica(config cfg, persisted_state state, int64_t now_ms)
    : _cfg(std::move(cfg)), _now_ms(now_ms) {
  GREGOR_ASSERT(_cfg.self != no_node);
  GREGOR_ASSERT(!_cfg.voters.empty());
  _voter_history.push_back({no_offset, base_voters(state.snapshot ? state.snapshot_bytes : nullptr)});
  voters_changed();
  _rng = _cfg.seed ^ (uint64_t(uint32_t(_cfg.self.value())) * 0xd1b54a32d192ed03ULL);
  _quorum = state.quorum;
  if (state.snapshot) {
    _snapshot = state.snapshot;
    _snapshot_bytes = state.snapshot_bytes;
    _log_start = state.snapshot->end_offset;
    _epochs.push_back({state.snapshot->epoch, _log_start});
    _out.snapshot_to_load = install_snapshot{*state.snapshot, state.snapshot_bytes};
  } else if (!state.log.empty()) {
    _log_start = state.log.front().base;
  }
  for (auto& e : state.log) {
    // The state machine may have written a snapshot before the log prefix it covers was deleted.
    if (e.end() <= _log_start && _snapshot) continue;
    GREGOR_ASSERT(e.base == log_end_offset());
    GREGOR_ASSERT(e.epoch >= last_epoch());
    append(std::move(e));
  }
  _hw = _log_start;
  _applied = _log_start;
  _persisted_end = log_end_offset();
  // Request tokens start from the seeded generator, so a late answer meant for the previous
  // run of this node is unlikely to match one we wait for (the shell pairs them anyway).
  _fetch_token = next_random();

  if (_quorum.leader == _cfg.self) {
    // We led this epoch before the restart: we may not lead it again (our uncommitted state is
    // unknown to us), so resign and let an election in a later epoch pick the next leader.
    _role = role::resigned;
    _election_deadline_ms = _now_ms + random_election_timeout_ms();
  } else if (_quorum.leader != no_node) {
    _role = role::follower;
    _fetch_deadline_ms = _now_ms + _cfg.fetch_timeout_ms;
    send_fetch();
  } else {
    _role = role::unattached;
    // A quorum of one elects itself at the first tick.
    _election_deadline_ms =
        _voter_ids.size() == 1 && _is_voter ? _now_ms : _now_ms + random_election_timeout_ms();
    _request_deadline_ms = _now_ms;
  }
  note_leadership();
}

offset replica::log_end_offset() const { return _log.empty() ? _log_start : _log.back().end(); }

leader_epoch replica::last_epoch() const {
  if (!_log.empty()) return _log.back().epoch;
  return _snapshot ? _snapshot->epoch : leader_epoch{0};
}

leader_and_epoch replica::advertised_leader() const {
  // A resigned leader no longer leads its epoch: it names nobody.
  return _role == role::resigned ? leader_and_epoch{no_node, _quorum.epoch} : leader();
}

bool replica::is_voter_id(node_id id) const {
  return std::binary_search(_voter_ids.begin(), _voter_ids.end(), id);
}

size_t replica::granted_voters() const {
  return size_t(std::count_if(_granted.begin(), _granted.end(),
                              [&](node_id id) { return is_voter_id(id); }));
}

// ---------------------------------------------------------------------------------------------
// Voters (KIP-853): the latest voters entry of the log rules, committed or not; truncating it
// away brings back the one before; below the log start the snapshot's (or the config's) rules.

voter_set replica::base_voters(const shared_bytes& snapshot_bytes) const {
  if (snapshot_bytes && _cfg.snapshot_voters) {
    if (auto v = _cfg.snapshot_voters(*snapshot_bytes)) return *v;
  }
  voter_set set;
  for (node_id id : _cfg.voters) {
    voter v;
    v.id = id;
    if (auto it = _cfg.voter_endpoints.find(id); it != _cfg.voter_endpoints.end())
      v.endpoints = it->second;
    set.push_back(std::move(v));
  }
  std::sort(set.begin(), set.end(), [](auto& a, auto& b) { return a.id < b.id; });
  return set;
}

const voter_set& replica::voters_at(offset end) const {
  for (size_t i = _voter_history.size(); i-- > 1;) {
    if (_voter_history[i].at < end) return _voter_history[i].set;
  }
  return _voter_history.front().set;
}

void replica::voters_changed() {
  std::vector<node_id> ids;
  for (const auto& v : voters()) ids.push_back(v.id);
  std::sort(ids.begin(), ids.end());
  const bool same = ids == _voter_ids;
  _voter_ids = std::move(ids);
  _is_voter = is_voter_id(_cfg.self);
  _out.voters = voters();
  if (same) return;
  if (_role == role::leader) {
    // Peers move between the voter and observer progress maps, keeping what they reported.
    for (auto it = _voter_progress.begin(); it != _voter_progress.end();) {
      if (is_voter_id(it->first)) {
        ++it;
        continue;
      }
      _observer_progress[it->first] = it->second;
      it = _voter_progress.erase(it);
    }
    for (node_id v : _voter_ids) {
      if (v == _cfg.self || _voter_progress.contains(v)) continue;
      auto o = _observer_progress.find(v);
      peer_state p = o == _observer_progress.end() ? peer_state{} : o->second;
      p.begin_epoch_acked = o != _observer_progress.end();  // it fetches from us already
      if (o != _observer_progress.end()) _observer_progress.erase(o);
      _voter_progress[v] = p;
    }
    return;
  }
  // A replica that is no longer a voter stops campaigning; it keeps following as an observer.
  if (!_is_voter && (_role == role::prospective || _role == role::candidate))
    become_unattached(_quorum.epoch, _quorum.voted_for);
}

bool replica::voter_change_pending() const {
  // Kafka's rule: no change before this epoch has committed an entry (the leader then knows the
  // committed voter set), and one uncommitted change at a time.
  return _hw <= _epoch_start_offset || _voter_history.back().at >= _hw;
}

result<offset_range, propose_error> replica::append_voters(voter_set next) {
  std::sort(next.begin(), next.end(), [](auto& a, auto& b) { return a.id < b.id; });
  entry e;
  e.base = log_end_offset();
  e.record_count = 1;
  e.epoch = _quorum.epoch;
  e.kind = entry_kind::voters;
  e.voters = std::move(next);
  _out.log_ops.push_back(append_log{{e}});
  append(std::move(e));
  send_begin_quorum_epoch(_now_ms, false);  // a new voter learns the leader at once
  update_leader_high_watermark();
  return offset_range{_log.back().base, _log.back().end()};
}

result<offset_range, propose_error> replica::add_voter(voter v) {
  if (_role != role::leader) return failure(propose_error{raft_error::not_leader, advertised_leader()});
  if (v.id == no_node || v.id.value() < 0)
    return failure(propose_error{raft_error::invalid_voter, leader()});
  if (is_voter_id(v.id)) return failure(propose_error{raft_error::duplicate_voter, leader()});
  if (voter_change_pending()) return failure(propose_error{raft_error::change_pending, leader()});
  auto o = _observer_progress.find(v.id);
  const bool caught_up = o != _observer_progress.end() && o->second.directory_id == v.directory_id &&
                         o->second.last_fetch_ms != no_timestamp &&
                         _now_ms - o->second.last_fetch_ms < _cfg.fetch_timeout_ms &&
                         o->second.end + _cfg.voter_catch_up_lag_max >= log_end_offset();
  if (!caught_up) return failure(propose_error{raft_error::not_caught_up, leader()});
  voter_set next = voters();
  next.push_back(std::move(v));
  return append_voters(std::move(next));
}

result<offset_range, propose_error> replica::remove_voter(node_id id, uuid directory_id) {
  if (_role != role::leader) return failure(propose_error{raft_error::not_leader, advertised_leader()});
  voter_set next = voters();
  auto it = std::find_if(next.begin(), next.end(), [&](const voter& v) {
    return v.id == id && v.directory_id == directory_id;
  });
  if (it == next.end()) return failure(propose_error{raft_error::voter_not_found, leader()});
  if (next.size() == 1) return failure(propose_error{raft_error::invalid_voter, leader()});
  if (voter_change_pending()) return failure(propose_error{raft_error::change_pending, leader()});
  next.erase(it);
  return append_voters(std::move(next));
}

result<offset_range, propose_error> replica::update_voter(voter v) {
  if (_role != role::leader) return failure(propose_error{raft_error::not_leader, advertised_leader()});
  voter_set next = voters();
  auto it = std::find_if(next.begin(), next.end(), [&](const voter& x) {
    return x.id == v.id && x.directory_id == v.directory_id;
  });
  if (it == next.end()) return failure(propose_error{raft_error::voter_not_found, leader()});
  if (voter_change_pending()) return failure(propose_error{raft_error::change_pending, leader()});
  *it = std::move(v);
  return append_voters(std::move(next));
}

uint64_t replica::next_random() { return splitmix64(_rng); }

int64_t replica::random_election_timeout_ms() {
  // Kafka's rule: the base timeout plus a uniform jitter of up to the same amount.
  return _cfg.election_timeout_ms + int64_t(next_random() % uint64_t(_cfg.election_timeout_ms));
}

int64_t replica::random_backoff_ms() {
  return int64_t(next_random() % uint64_t(std::max<int64_t>(1, _cfg.election_backoff_max_ms)));
}

void replica::persist_quorum() { _out.quorum = _quorum; }

void replica::send(node_id to, message m) { _out.messages.push_back({to, std::move(m)}); }

void replica::note_leadership() {
  leader_and_epoch now = leader();
  if (_reported_once && now == _last_reported_leader && _role == _last_reported_role) return;
  _reported_once = true;
  _last_reported_leader = now;
  _last_reported_role = _role;
  _out.leadership = leadership_change{now, _role};
}

output replica::take_output() {
  _out.sequence = _next_sequence++;
  if (!_out.log_ops.empty()) _unacked.emplace_back(_out.sequence, log_end_offset());
  output out = std::move(_out);
  _out = output{};
  return out;
}

void replica::persisted(uint64_t sequence) {
  bool moved = false;
  while (!_unacked.empty() && _unacked.front().first <= sequence) {
    _persisted_end = _unacked.front().second;
    _unacked.pop_front();
    moved = true;
  }
  if (moved && _role == role::leader) update_leader_high_watermark();
}

// ---------------------------------------------------------------------------------------------
// Log

size_t replica::index_of(offset o) const {
  auto it = std::upper_bound(_log.begin(), _log.end(), o,
                             [](offset value, const entry& e) { return value < e.end(); });
  return size_t(it - _log.begin());
}

void replica::append(entry e) {
  if (_epochs.empty() || e.epoch > _epochs.back().epoch) _epochs.push_back({e.epoch, e.base});
  const bool sets_voters = e.kind == entry_kind::voters;
  _log.push_back(std::move(e));
  if (sets_voters) {
    _voter_history.push_back({_log.back().base, _log.back().voters});
    voters_changed();
  }
}

void replica::truncate(offset end) {
  end = std::max(end, _log_start);
  size_t i = index_of(end);  // first entry that reaches past `end`: it and all after it go
  if (i == _log.size()) return;
  end = _log[i].base;
  _log.erase(_log.begin() + ptrdiff_t(i), _log.end());
  while (!_epochs.empty() && _epochs.back().start >= end &&
         !(_snapshot && _epochs.size() == 1)) {
    _epochs.pop_back();
  }
  _persisted_end = std::min(_persisted_end, end);
  for (auto& u : _unacked) u.second = std::min(u.second, end);
  _out.log_ops.push_back(truncate_log{end});
  bool voters_dropped = false;
  while (_voter_history.size() > 1 && _voter_history.back().at >= end) {
    _voter_history.pop_back();
    voters_dropped = true;
  }
  if (voters_dropped) voters_changed();
}

std::optional<diverging_epoch> replica::end_offset_for_epoch(leader_epoch epoch) const {
  if (_epochs.empty()) return diverging_epoch{leader_epoch{0}, log_end_offset()};
  if (epoch < _epochs.front().epoch) {
    if (_snapshot) return std::nullopt;  // the answer lies inside the snapshot
    return diverging_epoch{leader_epoch{0}, _epochs.front().start};
  }
  for (size_t i = _epochs.size(); i-- > 0;) {
    if (_epochs[i].epoch <= epoch) {
      offset end = i + 1 < _epochs.size() ? _epochs[i + 1].start : log_end_offset();
      return diverging_epoch{_epochs[i].epoch, end};
    }
  }
  return std::nullopt;
}

bool replica::log_up_to_date(leader_epoch candidate_last_epoch, offset candidate_end) const {
  if (candidate_last_epoch != last_epoch()) return candidate_last_epoch > last_epoch();
  return candidate_end >= log_end_offset();
}

// ---------------------------------------------------------------------------------------------
// Transitions

void replica::become_unattached(leader_epoch epoch, node_id voted_for) {
  quorum_state next{epoch, voted_for, no_node};
  if (next != _quorum) {
    _quorum = next;
    persist_quorum();
  }
  _role = role::unattached;
  _fetch_in_flight = false;
  _download.reset();
  _election_deadline_ms = _now_ms + random_election_timeout_ms();
  _fetch_deadline_ms = -1;
  _request_deadline_ms = _now_ms;  // observers look for the leader at the next tick
  note_leadership();
}

void replica::become_follower(leader_epoch epoch, node_id leader) {
  GREGOR_ASSERT(leader != _cfg.self);
  quorum_state next{epoch, epoch == _quorum.epoch ? _quorum.voted_for : no_node, leader};
  if (next != _quorum) {
    _quorum = next;
    persist_quorum();
  }
  _role = role::follower;
  _download.reset();
  _election_deadline_ms = -1;
  _fetch_deadline_ms = _now_ms + _cfg.fetch_timeout_ms;
  _last_leader_contact_ms = no_timestamp;
  note_leadership();
  send_fetch();
}

void replica::become_prospective() {
  // Pre-vote (KIP-996): ask whether the voters would vote for us in the next epoch, changing
  // nobody's state, so a node cut off from a healthy leader cannot force an election.
  _role = role::prospective;
  _fetch_in_flight = false;
  _download.reset();
  _granted.assign(1, _cfg.self);
  _rejected.clear();
  _election_deadline_ms = _now_ms + random_election_timeout_ms();
  _fetch_deadline_ms = -1;
  note_leadership();
  if (_granted.size() >= majority()) {
    become_candidate();
    return;
  }
  send_votes(true, false);
}

void replica::become_candidate() {
  _quorum = quorum_state{_quorum.epoch + 1, _cfg.self, no_node};
  persist_quorum();
  _role = role::candidate;
  _granted.assign(1, _cfg.self);
  _rejected.clear();
  _election_deadline_ms = _now_ms + random_election_timeout_ms();
  note_leadership();
  if (_granted.size() >= majority()) {
    become_leader();
    return;
  }
  send_votes(false, false);
}

void replica::become_leader() {
  _role = role::leader;
  _quorum.leader = _cfg.self;
  persist_quorum();
  _election_deadline_ms = -1;
  _fetch_deadline_ms = -1;
  _fetch_in_flight = false;
  _download.reset();
  _leader_since_ms = _now_ms;
  _voter_progress.clear();
  _observer_progress.clear();
  for (node_id v : _voter_ids) {
    if (v != _cfg.self) _voter_progress[v] = peer_state{};
  }
  // KRaft's first entry of every epoch: a LeaderChangeMessage. The high watermark may only move
  // once an entry of this epoch is committed, so this one opens the way.
  entry e;
  e.base = log_end_offset();
  e.record_count = 1;
  e.epoch = _quorum.epoch;
  e.kind = entry_kind::leader_change;
  e.leader_change.leader = _cfg.self;
  e.leader_change.voters = _voter_ids;
  e.leader_change.granting_voters = _granted;
  std::sort(e.leader_change.granting_voters.begin(), e.leader_change.granting_voters.end());
  _epoch_start_offset = e.base;
  _out.log_ops.push_back(append_log{{e}});
  append(std::move(e));
  note_leadership();
  send_begin_quorum_epoch(_now_ms, false);
  update_leader_high_watermark();
}

void replica::become_resigned(bool tell_voters) {
  GREGOR_ASSERT(_role == role::leader);
  _role = role::resigned;
  _election_deadline_ms = _now_ms + random_election_timeout_ms();
  note_leadership();
  if (!tell_voters) return;
  // Preferred successors: the voters with the longest logs first (they can win the election).
  std::vector<std::pair<offset, node_id>> by_end;
  for (auto& [id, p] : _voter_progress) by_end.emplace_back(p.end, id);
  std::sort(by_end.begin(), by_end.end(), [](auto& a, auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  end_quorum_epoch_request req;
  req.leader = leader();
  for (auto& [end, id] : by_end) req.preferred_candidates.push_back(id);
  for (auto& [end, id] : by_end) send(id, req);
}

bool replica::observe_leader(leader_and_epoch seen) {
  if (seen.epoch < _quorum.epoch) return true;
  if (seen.epoch > _quorum.epoch) {
    if (seen.leader != no_node && seen.leader != _cfg.self) {
      become_follower(seen.epoch, seen.leader);
    } else {
      become_unattached(seen.epoch, no_node);
    }
    return false;
  }
  // Same epoch: learn its leader if we did not know it (a candidate that lost learns here), or
  // go back to it (a prospective whose pre-vote was refused because the leader is alive).
  if (seen.leader != no_node && seen.leader != _cfg.self && _role != role::leader &&
      _role != role::follower && _role != role::resigned &&
      (_quorum.leader == no_node || _quorum.leader == seen.leader)) {
    become_follower(seen.epoch, seen.leader);
  }
  return false;
}

void replica::resign() {
  if (_role == role::leader) become_resigned(true);
}

// ---------------------------------------------------------------------------------------------
// Time

void replica::tick(int64_t now_ms) {
  GREGOR_ASSERT(now_ms >= _now_ms);
  _now_ms = now_ms;
  switch (_role) {
    case role::leader: {
      // Check-quorum: a leader that has not heard a Fetch from a majority (itself included)
      // within quorum.fetch.timeout.ms may be cut off; it resigns so the others can elect.
      if (_now_ms - _leader_since_ms >= _cfg.fetch_timeout_ms) {
        size_t heard = _is_voter ? 1 : 0;
        for (auto& [id, p] : _voter_progress) {
          if (p.last_fetch_ms != no_timestamp && _now_ms - p.last_fetch_ms < _cfg.fetch_timeout_ms)
            ++heard;
        }
        if (heard < majority()) {
          become_resigned(true);
          return;
        }
      }
      send_begin_quorum_epoch(_now_ms, true);
      return;
    }
    case role::follower:
      if (_fetch_deadline_ms >= 0 && _now_ms >= _fetch_deadline_ms) {
        if (_is_voter) {
          become_prospective();
        } else {
          become_unattached(_quorum.epoch, _quorum.voted_for);
        }
        return;
      }
      if (_now_ms >= _request_deadline_ms) send_fetch();  // unanswered, or retry after an error
      return;
    case role::unattached:
      if (_is_voter) {
        if (_now_ms >= _election_deadline_ms) become_prospective();
      } else if (_now_ms >= _request_deadline_ms) {
        send_fetch();
      }
      return;
    case role::prospective:
    case role::resigned:
      if (!_is_voter) {
        // Removed from the voters (a leader that removed itself, here after resigning): follow
        // as an observer once the others had their time to elect.
        if (_role == role::prospective || _now_ms >= _election_deadline_ms)
          become_unattached(_quorum.epoch, _quorum.voted_for);
        return;
      }
      if (_now_ms >= _election_deadline_ms) {
        // KIP-996: a prospective that still knows a leader in its epoch goes back to following it
        // (and fetching) when its pre-vote round fails; one that knows none asks again.
        if (_role == role::prospective && _quorum.leader != no_node && _quorum.leader != _cfg.self)
          become_follower(_quorum.epoch, _quorum.leader);
        else
          become_prospective();
      } else if (_role == role::prospective && _now_ms >= _vote_retry_ms) {
        send_votes(true, true);
      }
      return;
    case role::candidate:
      if (_now_ms >= _election_deadline_ms) {
        // Lost or split: back off for a random time, then try again with a pre-vote.
        become_unattached(_quorum.epoch, _quorum.voted_for);
        _election_deadline_ms = _now_ms + random_backoff_ms();
      } else if (_now_ms >= _vote_retry_ms) {
        send_votes(false, true);
      }
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Inputs

void replica::step(node_id from, const message& m) {
  if (from == _cfg.self) return;
  std::visit([&](const auto& body) { on(from, body); }, m);
}

void replica::send_votes(bool pre_vote, bool only_unanswered) {
  _vote_retry_ms = _now_ms + _cfg.vote_retry_ms;
  for (node_id v : _voter_ids) {
    if (v == _cfg.self) continue;
    if (only_unanswered && (std::find(_granted.begin(), _granted.end(), v) != _granted.end() ||
                            std::find(_rejected.begin(), _rejected.end(), v) != _rejected.end()))
      continue;
    vote_request req;
    req.candidate_epoch = _quorum.epoch;  // a prospective asks in its current epoch
    req.candidate = _cfg.self;
    req.voter = v;
    req.last_offset_epoch = last_epoch();
    req.last_offset = log_end_offset();
    req.pre_vote = pre_vote;
    send(v, req);
  }
}

void replica::on(node_id from, const vote_request& m) {
  vote_response resp;
  resp.pre_vote = m.pre_vote;
  auto answer = [&](bool granted) {
    resp.vote_granted = granted;
    resp.leader = advertised_leader();
    send(from, resp);
  };
  // KIP-853: neither our own voter set nor the candidate's membership in it is checked. Either
  // may be stale (a voter that has not fetched the entry adding it, a candidate added after our
  // log ends); the candidate counts only its own voters' grants, and our vote is still one per
  // epoch, persisted, for an up-to-date log. Only a request meant for another replica is refused.
  if (m.candidate != from || (m.voter != no_node && m.voter != _cfg.self)) return answer(false);
  if (m.candidate_epoch < _quorum.epoch) {
    resp.error = wire_error::fenced_leader_epoch;
    return answer(false);
  }
  // A newer epoch is adopted whether the vote is a pre-vote or not (as Kafka does).
  if (m.candidate_epoch > _quorum.epoch) become_unattached(m.candidate_epoch, no_node);
  bool up_to_date = log_up_to_date(m.last_offset_epoch, m.last_offset);
  if (m.pre_vote) {
    // A pre-vote is for our own epoch (a prospective does not bump it) and granting it changes
    // nothing here. It is refused by the leader and by a follower that has fetched from the
    // leader since it started following it: that keeps a partitioned node from disrupting a
    // stable quorum.
    bool leader_alive = _role == role::leader ||
                        (_role == role::follower && _last_leader_contact_ms != no_timestamp);
    return answer(up_to_date && !leader_alive);
  }
  if (_quorum.voted_for == m.candidate) return answer(true);
  bool can_vote = (_role == role::unattached || _role == role::prospective) &&
                  _quorum.voted_for == no_node && _quorum.leader == no_node;
  if (!can_vote || !up_to_date) return answer(false);
  become_unattached(_quorum.epoch, m.candidate);  // persists the vote before the answer leaves
  answer(true);
}

void replica::count_vote(node_id from, bool granted) {
  auto& list = granted ? _granted : _rejected;
  if (std::find(list.begin(), list.end(), from) == list.end()) list.push_back(from);
}

void replica::on(node_id from, const vote_response& m) {
  if (!is_voter_id(from)) return;
  if (m.leader.epoch > _quorum.epoch) {
    observe_leader(m.leader);
    return;
  }
  // A prospective that left a silent leader keeps asking while voters that still follow that
  // leader refuse, naming it: that is no news (as in Kafka's ProspectiveState, which remembers the
  // leader). Going back to following it at once would restart every prospective's wait, and two
  // followers of a dead leader would send each other back forever, never overlapping as
  // prospectives.
  const bool known_leader = _role == role::prospective && m.leader.leader == _quorum.leader;
  if (m.leader.epoch == _quorum.epoch && m.leader.leader != no_node && !known_leader) {
    observe_leader(m.leader);
    if (_role == role::follower) return;
  }
  if (m.pre_vote && _role == role::prospective && m.leader.epoch == _quorum.epoch) {
    count_vote(from, m.vote_granted);
    if (granted_voters() >= majority()) become_candidate();
    return;
  }
  if (!m.pre_vote && _role == role::candidate && m.leader.epoch == _quorum.epoch) {
    count_vote(from, m.vote_granted);
    if (granted_voters() >= majority()) become_leader();
  }
}

void replica::send_begin_quorum_epoch(int64_t now_ms, bool only_due) {
  for (auto& [id, p] : _voter_progress) {
    if (p.begin_epoch_acked) continue;
    if (only_due && p.begin_epoch_sent_ms != no_timestamp &&
        now_ms - p.begin_epoch_sent_ms < _cfg.request_timeout_ms)
      continue;
    p.begin_epoch_sent_ms = now_ms;
    send(id, begin_quorum_epoch_request{leader(), id});
  }
}

void replica::on(node_id from, const begin_quorum_epoch_request& m) {
  begin_quorum_epoch_response resp;
  if (m.leader.leader != from || m.leader.leader == no_node) {
    resp.error = wire_error::invalid_request;
  } else if (observe_leader(m.leader)) {
    resp.error = wire_error::fenced_leader_epoch;
  }
  resp.leader = leader();
  send(from, resp);
}

void replica::on(node_id from, const begin_quorum_epoch_response& m) {
  if (m.leader.epoch > _quorum.epoch) {
    observe_leader(m.leader);
    return;
  }
  if (_role != role::leader || m.error != wire_error::none || m.leader != leader()) return;
  auto it = _voter_progress.find(from);
  if (it != _voter_progress.end()) it->second.begin_epoch_acked = true;
}

void replica::on(node_id from, const end_quorum_epoch_request& m) {
  end_quorum_epoch_response resp;
  if (observe_leader(m.leader)) {
    resp.error = wire_error::fenced_leader_epoch;
  } else if (_is_voter && m.leader.epoch == _quorum.epoch && m.leader.leader == from &&
             (_role == role::follower || _role == role::unattached) &&
             (_quorum.leader == from || _quorum.leader == no_node)) {
    // The leader resigned: stand for election after a delay that grows with our place in its
    // list of preferred successors, so the best-placed voter usually wins without a split.
    auto it = std::find(m.preferred_candidates.begin(), m.preferred_candidates.end(), _cfg.self);
    int64_t position = it == m.preferred_candidates.end()
                           ? int64_t(_voter_ids.size())
                           : int64_t(it - m.preferred_candidates.begin());
    become_unattached(_quorum.epoch, _quorum.voted_for);
    _last_leader_contact_ms = no_timestamp;
    int64_t step_ms =
        _cfg.election_backoff_max_ms / int64_t(std::max<size_t>(1, _voter_ids.size()));
    _election_deadline_ms = _now_ms + position * step_ms + (position ? random_backoff_ms() / 4 : 0);
  }
  resp.leader = leader();
  send(from, resp);
}

void replica::on(node_id from, const end_quorum_epoch_response& m) {
  if (m.leader.epoch > _quorum.epoch) observe_leader(m.leader);
}

// ---------------------------------------------------------------------------------------------
// Replication: leader side

void replica::update_leader_high_watermark() {
  GREGOR_ASSERT(_role == role::leader);
  std::vector<offset> ends;
  // A leader that removed itself leads until the removal commits, without counting itself.
  if (_is_voter) ends.push_back(std::min(_persisted_end, log_end_offset()));
  for (auto& [id, p] : _voter_progress) ends.push_back(p.end);
  std::sort(ends.begin(), ends.end(), std::greater<>());
  if (ends.size() < majority()) return;
  offset candidate = ends[majority() - 1];
  // Only an entry of our own epoch may be counted committed by replication (Raft's rule).
  if (candidate > _epoch_start_offset) advance_high_watermark(candidate);
  // The removal of this leader committed: it resigns and follows as an observer.
  if (!_is_voter && _voter_history.back().at < _hw && _role == role::leader) become_resigned(true);
}

fetch_response replica::make_fetch_response(const fetch_request& m) {
  fetch_response resp;
  resp.request_token = m.request_token;
  resp.current_leader = leader();
  resp.log_start_offset = _log_start;
  resp.high_watermark = _hw;
  if (m.fetch_offset < _log_start) {
    resp.snapshot = _snapshot;
    return resp;
  }
  auto known = end_offset_for_epoch(m.last_fetched_epoch);
  if (!known) {
    resp.snapshot = _snapshot;
    return resp;
  }
  if (known->epoch != m.last_fetched_epoch || known->end_offset < m.fetch_offset) {
    resp.diverging = *known;
    return resp;
  }
  // The replica's log matches ours up to fetch_offset (which its shell made durable before the
  // request left): count it.
  peer_state* p = nullptr;
  if (is_voter_id(m.replica)) {
    p = &_voter_progress[m.replica];
  } else {
    if (!_observer_progress.contains(m.replica) &&
        _observer_progress.size() >= size_t(_cfg.observers_max)) {
      auto oldest = std::min_element(_observer_progress.begin(), _observer_progress.end(),
                                     [](auto& a, auto& b) {
                                       return a.second.last_fetch_ms < b.second.last_fetch_ms;
                                     });
      _observer_progress.erase(oldest);
    }
    p = &_observer_progress[m.replica];
  }
  p->end = m.fetch_offset;
  p->directory_id = m.directory_id;
  p->last_fetch_ms = _now_ms;
  p->begin_epoch_acked = true;
  if (m.fetch_offset >= log_end_offset()) p->last_caught_up_ms = _now_ms;
  update_leader_high_watermark();
  resp.high_watermark = _hw;

  size_t bytes_max = size_t(std::max(1, std::min(m.max_bytes, _cfg.fetch_bytes_max)));
  size_t bytes = 0;
  for (size_t i = index_of(m.fetch_offset); i < _log.size(); ++i) {
    if (resp.records.size() >= size_t(_cfg.fetch_entries_max)) break;
    size_t b = entry_bytes(_log[i]);
    if (!resp.records.empty() && bytes + b > bytes_max) break;  // at least one, always
    bytes += b;
    resp.records.push_back(_log[i]);
  }
  return resp;
}

void replica::on(node_id from, const fetch_request& m) {
  if (m.replica != from) return;
  fetch_response resp;
  resp.request_token = m.request_token;
  resp.high_watermark = _hw;
  resp.log_start_offset = _log_start;
  resp.current_leader = advertised_leader();
  if (m.current_leader_epoch < _quorum.epoch) {
    resp.error = wire_error::fenced_leader_epoch;
  } else if (m.current_leader_epoch > _quorum.epoch) {
    resp.error = wire_error::unknown_leader_epoch;
  } else if (_role != role::leader) {
    resp.error = wire_error::not_leader_or_follower;
  } else {
    resp = make_fetch_response(m);
  }
  // Long polling is the shell's business: when `records` is empty and the error is none, it may
  // hold the answer until the leader's log grows or the high watermark moves (watch
  // take_output().high_watermark and log appends), up to the request's MaxWaitMs, and then ask
  // the core again with the same request instead of sending this stale answer.
  send(from, std::move(resp));
}

void replica::on(node_id from, const fetch_snapshot_request& m) {
  if (m.replica != from) return;
  fetch_snapshot_response resp;
  resp.request_token = m.request_token;
  resp.current_leader = advertised_leader();
  resp.snapshot = m.snapshot;
  if (m.current_leader_epoch < _quorum.epoch) {
    resp.error = wire_error::fenced_leader_epoch;
  } else if (m.current_leader_epoch > _quorum.epoch) {
    resp.error = wire_error::unknown_leader_epoch;
  } else if (_role != role::leader) {
    resp.error = wire_error::not_leader_or_follower;
  } else if (!_snapshot || *_snapshot != m.snapshot || !_snapshot_bytes) {
    resp.error = wire_error::snapshot_not_found;
  } else if (m.position < 0 || m.position > int64_t(_snapshot_bytes->size())) {
    resp.error = wire_error::position_out_of_range;
  } else {
    auto it = _voter_progress.find(from);
    if (it != _voter_progress.end()) it->second.last_fetch_ms = _now_ms;
    size_t chunk = size_t(std::max(1, std::min(m.max_bytes, _cfg.snapshot_chunk_bytes_max)));
    size_t pos = size_t(m.position);
    size_t n = std::min(chunk, _snapshot_bytes->size() - pos);
    resp.size = int64_t(_snapshot_bytes->size());
    resp.position = m.position;
    resp.unaligned_records.assign(_snapshot_bytes->begin() + ptrdiff_t(pos),
                                  _snapshot_bytes->begin() + ptrdiff_t(pos + n));
  }
  send(from, std::move(resp));
}

// ---------------------------------------------------------------------------------------------
// Replication: follower and observer side

void replica::send_fetch() {
  if (_download) return send_fetch_snapshot();
  node_id to = _quorum.leader;
  if (_role != role::follower || to == no_node) {
    // An observer that does not know the leader asks the voters in turn; any answer names it.
    if (_is_voter) return;
    std::vector<node_id> others;
    for (node_id v : _voter_ids) {
      if (v != _cfg.self) others.push_back(v);
    }
    if (others.empty()) return;
    to = others[_observer_cursor++ % others.size()];
  }
  fetch_request req;
  req.replica = _cfg.self;
  req.current_leader_epoch = _quorum.epoch;
  req.fetch_offset = log_end_offset();
  req.last_fetched_epoch = last_epoch();
  req.log_start_offset = _log_start;
  req.max_bytes = _cfg.fetch_bytes_max;
  req.directory_id = _cfg.directory_id;
  req.request_token = ++_fetch_token;
  _fetch_in_flight = true;
  _request_deadline_ms = _now_ms + _cfg.request_timeout_ms;
  send(to, req);
}

void replica::send_fetch_snapshot() {
  GREGOR_ASSERT(_download);
  fetch_snapshot_request req;
  req.replica = _cfg.self;
  req.current_leader_epoch = _quorum.epoch;
  req.snapshot = _download->id;
  req.position = int64_t(_download->data.size());
  req.max_bytes = _cfg.snapshot_chunk_bytes_max;
  req.request_token = ++_fetch_token;
  _fetch_in_flight = true;
  _request_deadline_ms = _now_ms + _cfg.request_timeout_ms;
  send(_quorum.leader, req);
}

void replica::advance_high_watermark(offset hw) {
  if (hw <= _hw) return;
  GREGOR_ASSERT(hw <= log_end_offset());
  _hw = hw;
  _out.high_watermark = hw;
  emit_committed();
}

void replica::emit_committed() {
  while (_applied < _hw) {
    size_t i = index_of(_applied);
    GREGOR_ASSERT(i < _log.size());
    const entry& e = _log[i];
    GREGOR_ASSERT(e.base == _applied);
    GREGOR_ASSERT(e.end() <= _hw);
    _out.committed.push_back(e);
    _applied = e.end();
  }
}

void replica::on(node_id from, const fetch_response& m) {
  if (!_fetch_in_flight || m.request_token != _fetch_token || _role == role::leader) return;
  _fetch_in_flight = false;
  if (observe_leader(m.current_leader)) {
    _request_deadline_ms = _now_ms + _cfg.retry_backoff_ms;  // a stale node answered; retry
    return;
  }
  if (_role != role::follower) {
    if (!_is_voter) _request_deadline_ms = _now_ms + _cfg.retry_backoff_ms;
    return;
  }
  if (from != _quorum.leader || m.error != wire_error::none || m.current_leader != leader()) {
    // observe_leader() may have just sent a Fetch to a new leader; otherwise retry after a pause.
    if (!_fetch_in_flight) _request_deadline_ms = _now_ms + _cfg.retry_backoff_ms;
    return;
  }
  _last_leader_contact_ms = _now_ms;
  _fetch_deadline_ms = _now_ms + _cfg.fetch_timeout_ms;

  if (m.diverging) {
    auto ours = end_offset_for_epoch(m.diverging->epoch);
    offset end = m.diverging->end_offset;
    if (ours) end = std::min(end, ours->end_offset);
    truncate(end);
    return send_fetch();
  }
  if (m.snapshot) {
    // A snapshot at or below our high watermark cannot be the answer to our current state (our
    // committed prefix already matches the leader's past it): a stale answer, ask again. One
    // ending below our log end is taken: our uncommitted tail then diverges inside it.
    if (m.snapshot->end_offset <= _hw) {
      _request_deadline_ms = _now_ms + _cfg.retry_backoff_ms;
      return;
    }
    _download = snapshot_download{*m.snapshot, {}, -1};
    return send_fetch_snapshot();
  }
  // Entries from the network: contiguous, whole, epochs never decreasing and never beyond the
  // leader's. Anything else is a broken peer: drop the answer and ask again.
  std::vector<entry> fresh;
  offset next = log_end_offset();
  leader_epoch prev = last_epoch();
  for (const entry& e : m.records) {
    if (e.end() <= next && !fresh.empty()) break;
    if (e.end() <= next) continue;  // already have it
    if (e.base != next || e.record_count < 1 || e.epoch < prev || e.epoch > _quorum.epoch) {
      fresh.clear();
      break;
    }
    fresh.push_back(e);
    next = e.end();
    prev = e.epoch;
  }
  if (!fresh.empty()) {
    _out.log_ops.push_back(append_log{fresh});
    for (auto& e : fresh) append(std::move(e));
  }
  if (m.high_watermark != no_offset) {
    advance_high_watermark(std::min(m.high_watermark, log_end_offset()));
  }
  send_fetch();
}

void replica::on(node_id from, const fetch_snapshot_response& m) {
  if (!_fetch_in_flight || m.request_token != _fetch_token || !_download) return;
  _fetch_in_flight = false;
  if (observe_leader(m.current_leader)) {
    _request_deadline_ms = _now_ms + _cfg.retry_backoff_ms;
    return;
  }
  if (_role != role::follower || from != _quorum.leader || m.current_leader != leader()) {
    if (!_fetch_in_flight) _request_deadline_ms = _now_ms + _cfg.retry_backoff_ms;
    return;
  }
  if (m.error != wire_error::none || m.snapshot != _download->id ||
      m.position != int64_t(_download->data.size()) || m.size < 0 ||
      (_download->size >= 0 && m.size != _download->size) ||
      m.position + int64_t(m.unaligned_records.size()) > m.size ||
      (m.unaligned_records.empty() && m.position < m.size)) {
    // The leader moved to a newer snapshot (or the answer is inconsistent): start over.
    _download.reset();
    _request_deadline_ms = _now_ms + _cfg.retry_backoff_ms;
    return;
  }
  _last_leader_contact_ms = _now_ms;
  _fetch_deadline_ms = _now_ms + _cfg.fetch_timeout_ms;
  _download->size = m.size;
  _download->data.insert(_download->data.end(), m.unaligned_records.begin(),
                         m.unaligned_records.end());
  if (int64_t(_download->data.size()) < m.size) return send_fetch_snapshot();

  // Complete: the snapshot replaces our whole log.
  snapshot_id id = _download->id;
  auto data = std::make_shared<const bytes>(std::move(_download->data));
  _download.reset();
  _log.clear();
  _epochs.clear();
  _snapshot = id;
  _snapshot_bytes = data;
  _log_start = id.end_offset;
  _epochs.push_back({id.epoch, _log_start});
  _voter_history.assign(1, voters_since{no_offset, base_voters(data)});
  voters_changed();
  _persisted_end = std::min(_persisted_end, _log_start);
  for (auto& u : _unacked) u.second = std::min(u.second, _log_start);
  _out.log_ops.push_back(install_snapshot{id, data});
  if (_applied < _log_start) {
    _out.snapshot_to_load = install_snapshot{id, data};
    _out.committed.clear();  // the snapshot already contains them
    _applied = _log_start;
  }
  if (_hw < _log_start) {
    _hw = _log_start;
    _out.high_watermark = _hw;
  }
  send_fetch();
}

// ---------------------------------------------------------------------------------------------
// Leader API

result<offset_range, propose_error> replica::propose(std::vector<proposal> batches) {
  if (_role != role::leader) {
    return failure(propose_error{raft_error::not_leader, advertised_leader()});
  }
  if (batches.empty()) return failure(propose_error{raft_error::invalid_proposal, leader()});
  for (auto& b : batches) {
    if (b.record_count < 1) return failure(propose_error{raft_error::invalid_proposal, leader()});
  }
  size_t uncommitted = _log.size() - index_of(_hw);
  if (uncommitted + batches.size() > size_t(_cfg.uncommitted_entries_max)) {
    return failure(propose_error{raft_error::too_many_pending, leader()});
  }
  offset_range range{log_end_offset(), log_end_offset()};
  append_log op;
  for (auto& b : batches) {
    entry e;
    e.base = log_end_offset();
    e.record_count = b.record_count;
    e.epoch = _quorum.epoch;
    e.kind = entry_kind::data;
    e.payload = std::move(b.payload);
    op.entries.push_back(e);
    append(std::move(e));
  }
  range.last_end = log_end_offset();
  _out.log_ops.push_back(std::move(op));
  return range;
}

void replica::snapshot_taken(offset end, leader_epoch epoch, shared_bytes data) {
  GREGOR_ASSERT(end <= _applied);
  GREGOR_ASSERT(data != nullptr);
  if (_snapshot && end <= _snapshot->end_offset) return;
  if (end <= _log_start) return;
  size_t i = index_of(end - 1);
  GREGOR_ASSERT(i < _log.size());
  GREGOR_ASSERT(_log[i].end() == end);
  GREGOR_ASSERT(_log[i].epoch == epoch);
  _snapshot = snapshot_id{end, epoch};
  _snapshot_bytes = std::move(data);
  _log.erase(_log.begin(), _log.begin() + ptrdiff_t(i + 1));
  _log_start = end;
  std::vector<epoch_start> kept{{epoch, end}};
  for (auto& e : _epochs) {
    if (e.epoch > epoch) kept.push_back(e);
  }
  _epochs = std::move(kept);
  // The voter set at `end` becomes the base (the state machine wrote it into the snapshot).
  size_t base = 0;
  while (base + 1 < _voter_history.size() && _voter_history[base + 1].at < end) ++base;
  _voter_history.erase(_voter_history.begin(), _voter_history.begin() + ptrdiff_t(base));
  _voter_history.front().at = no_offset;
  _out.log_ops.push_back(delete_log_prefix{end});
}

quorum_info replica::describe_quorum() const {
  quorum_info info;
  info.leader = leader();
  info.high_watermark = _hw;
  if (_role != role::leader) {
    for (const voter& v : voters()) info.voters.push_back(replica_progress{v.id, v.directory_id});
    return info;
  }
  for (const voter& v : voters()) {
    if (v.id == _cfg.self) {
      info.voters.push_back(
          replica_progress{v.id, v.directory_id, log_end_offset(), _now_ms, _now_ms});
      continue;
    }
    auto& p = _voter_progress.at(v.id);
    info.voters.push_back(
        replica_progress{v.id, v.directory_id, p.end, p.last_fetch_ms, p.last_caught_up_ms});
  }
  for (auto& [id, p] : _observer_progress) {
    info.observers.push_back(
        replica_progress{id, p.directory_id, p.end, p.last_fetch_ms, p.last_caught_up_ms});
  }
  return info;
}

}  // namespace gregor::raft
