#include "gregor/group/group_coordinator.h"

#include <algorithm>
#include <memory>
#include <random>

#include "gregor/base/log.h"

namespace gregor::group {
namespace {
spdlog::logger& lg() { return log::get("group"); }
}  // namespace

std::string_view state_name(group_state s) {
  switch (s) {
    case group_state::empty: return "Empty";
    case group_state::preparing_rebalance: return "PreparingRebalance";
    case group_state::completing_rebalance: return "CompletingRebalance";
    case group_state::stable: return "Stable";
    case group_state::dead: return "Dead";
  }
  return "Dead";
}

struct group_coordinator::member {
  std::string id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::string client_host;
  int32_t session_timeout_ms = 0;
  int32_t rebalance_timeout_ms = 0;
  std::string protocol_type;
  std::vector<protocol_entry> protocols;
  std::vector<uint8_t> assignment;
  std::optional<uint64_t> join_ticket;
  std::optional<uint64_t> sync_ticket;
  bool supports_skip_assignment = false;
  int64_t last_heartbeat_ms = 0;

  const std::vector<uint8_t>* metadata_for(const std::string& protocol) const {
    for (const auto& p : protocols)
      if (p.name == protocol) return &p.metadata;
    return nullptr;
  }
};

struct group_coordinator::group {
  std::string id;
  group_state state = group_state::empty;
  int32_t generation = 0;
  std::string protocol_type;
  std::optional<std::string> protocol_name;
  std::optional<std::string> leader;
  std::map<std::string, member> members;
  std::vector<std::string> join_order;  // member ids in order of first join (leader choice)
  std::map<std::string, std::string> static_members;  // instance id -> member id
  std::map<std::string, int64_t> pending_members;     // MEMBER_ID_REQUIRED issued: id -> deadline
  int64_t rebalance_deadline_ms = 0;
  bool initial_delay = false;
  int64_t initial_delay_cap_ms = 0;  // the latest the initial delay may extend to
  int64_t state_timestamp_ms = -1;
  std::map<topic_partition, committed_offset> offsets;
  std::map<topic_partition, int64_t> record_offsets;  // log offset of each committed offset's record
  // Pending transactional offsets: producer id -> partition -> (offset, its record's log offset).
  std::map<int64_t, std::map<topic_partition, std::pair<committed_offset, int64_t>>> pending_txn;

  bool all_joined() const {
    if (!pending_members.empty()) return false;
    for (const auto& [id, m] : members)
      if (!m.join_ticket) return false;
    return true;
  }
};

group_coordinator::group_coordinator(clock& clk, group_settings settings)
    : _clock(clk), _settings(settings) {}
group_coordinator::~group_coordinator() = default;

group_coordinator::group* group_coordinator::find(const std::string& id) {
  auto it = _groups.find(id);
  return it == _groups.end() ? nullptr : it->second.get();
}
const group_coordinator::group* group_coordinator::find(const std::string& id) const {
  auto it = _groups.find(id);
  return it == _groups.end() ? nullptr : it->second.get();
}

group_coordinator::group& group_coordinator::get_or_create(const std::string& id) {
  auto& slot = _groups[id];
  if (!slot) {
    slot = std::make_unique<group>();
    slot->id = id;
    slot->state_timestamp_ms = _clock.now_ms();
  }
  return *slot;
}

std::string group_coordinator::new_member_id(const std::string& prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng(), b = rng();
  return fmt::format("{}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", prefix, uint32_t(a >> 32),
                     uint16_t(a >> 16), uint16_t(a), uint16_t(b >> 48), b & 0xffffffffffffULL);
}

bool group_coordinator::supports_protocols(const group& g, const std::string& type,
                                           const std::vector<protocol_entry>& protocols) const {
  if (type.empty() || protocols.empty()) return false;
  if (g.members.empty()) return true;
  if (type != g.protocol_type) return false;
  // Some protocol every current member supports must be among the newcomer's.
  for (const auto& p : protocols) {
    bool all = true;
    for (const auto& [id, m] : g.members)
      if (!m.metadata_for(p.name)) { all = false; break; }
    if (all) return true;
  }
  return false;
}

std::optional<std::string> group_coordinator::select_protocol(const group& g) const {
  if (g.members.empty()) return std::nullopt;
  // Candidates: protocols every member supports; each member votes for its most preferred one.
  std::vector<std::string> candidates;
  for (const auto& p : g.members.begin()->second.protocols) {
    bool all = true;
    for (const auto& [id, m] : g.members)
      if (!m.metadata_for(p.name)) { all = false; break; }
    if (all) candidates.push_back(p.name);
  }
  if (candidates.empty()) return std::nullopt;
  std::map<std::string, int> votes;
  for (const auto& [id, m] : g.members)
    for (const auto& p : m.protocols)
      if (std::find(candidates.begin(), candidates.end(), p.name) != candidates.end()) {
        votes[p.name]++;
        break;
      }
  std::string best = candidates.front();
  int best_votes = -1;
  for (const auto& c : candidates)
    if (votes[c] > best_votes) { best = c; best_votes = votes[c]; }
  return best;
}

// ---------------------------------------------------------------- JoinGroup
void group_coordinator::join(uint64_t ticket, join_input in) {
  auto reply = [&](error_code e, std::string member_id = {}) {
    join_output o;
    o.error = e;
    o.member_id = std::move(member_id);
    _out.joins.emplace_back(ticket, std::move(o));
  };
  if (in.group_id.empty()) return reply(error_code::invalid_group_id, in.member_id);
  if (in.session_timeout_ms < _settings.min_session_timeout_ms ||
      in.session_timeout_ms > _settings.max_session_timeout_ms)
    return reply(error_code::invalid_session_timeout, in.member_id);
  if (in.rebalance_timeout_ms < 0) in.rebalance_timeout_ms = in.session_timeout_ms;

  group* existing = find(in.group_id);
  if (!existing && !in.member_id.empty()) return reply(error_code::unknown_member_id, in.member_id);
  group& g = existing ? *existing : get_or_create(in.group_id);
  if (g.state == group_state::dead) return reply(error_code::coordinator_not_available, in.member_id);
  if (!supports_protocols(g, in.protocol_type, in.protocols))
    return reply(error_code::inconsistent_group_protocol, in.member_id);

  if (in.member_id.empty()) {
    // A new member (or a static member with a fresh process).
    if (in.instance_id) {
      auto sit = g.static_members.find(*in.instance_id);
      if (sit != g.static_members.end() && g.members.count(sit->second)) {
        // Known static member restarted: it takes over the old member id's place without a
        // rebalance when the group is stable and its protocols did not change.
        std::string old_id = sit->second;
        member m = std::move(g.members.at(old_id));
        g.members.erase(old_id);
        if (m.join_ticket) {
          join_output o;
          o.error = error_code::fenced_instance_id;
          o.member_id = old_id;
          _out.joins.emplace_back(*m.join_ticket, std::move(o));
          m.join_ticket.reset();
        }
        if (m.sync_ticket) {
          sync_output o;
          o.error = error_code::fenced_instance_id;
          _out.syncs.emplace_back(*m.sync_ticket, std::move(o));
          m.sync_ticket.reset();
        }
        std::string new_id = new_member_id(*in.instance_id);
        const bool protocols_changed = m.protocols != in.protocols;
        m.id = new_id;
        m.client_id = in.client_id;
        m.client_host = in.client_host;
        m.session_timeout_ms = in.session_timeout_ms;
        m.rebalance_timeout_ms = in.rebalance_timeout_ms;
        m.supports_skip_assignment = in.supports_skip_assignment;
        m.last_heartbeat_ms = _clock.monotonic_ms();
        for (auto& id : g.join_order)
          if (id == old_id) id = new_id;
        if (g.leader == old_id) g.leader = new_id;
        sit->second = new_id;
        auto& nm = g.members.emplace(new_id, std::move(m)).first->second;
        lg().info("group {}: static member {} rejoined as {}", g.id, *in.instance_id, new_id);
        if (g.state == group_state::stable && !protocols_changed) {
          persist(g);
          join_output o;
          o.member_id = new_id;
          o.generation = g.generation;
          o.protocol_type = g.protocol_type;
          o.protocol_name = g.protocol_name;
          o.leader = g.leader.value_or("");
          const bool is_leader = g.leader == new_id;
          o.skip_assignment = is_leader && nm.supports_skip_assignment;
          if (o.skip_assignment)
            for (const auto& id : g.join_order) {
              const member& x = g.members.at(id);
              o.members.push_back({x.id, x.instance_id, *x.metadata_for(*g.protocol_name)});
            }
          _out.joins.emplace_back(ticket, std::move(o));
          return;
        }
        update_member_and_rebalance(g, nm, ticket, in);
        return;
      }
      if (g.members.size() >= size_t(_settings.max_size))
        return reply(error_code::group_max_size_reached);
      std::string id = new_member_id(*in.instance_id);
      g.static_members[*in.instance_id] = id;
      add_member_and_rebalance(g, ticket, in, id);
      return;
    }
    if (g.members.size() + g.pending_members.size() >= size_t(_settings.max_size))
      return reply(error_code::group_max_size_reached);
    std::string id = new_member_id(in.client_id.empty() ? "member" : in.client_id);
    if (in.require_known_member_id) {
      g.pending_members[id] = _clock.monotonic_ms() + in.session_timeout_ms;
      return reply(error_code::member_id_required, id);
    }
    add_member_and_rebalance(g, ticket, in, id);
    return;
  }

  // A member with an id.
  if (in.instance_id) {
    auto sit = g.static_members.find(*in.instance_id);
    if (sit != g.static_members.end() && sit->second != in.member_id)
      return reply(error_code::fenced_instance_id, in.member_id);
  }
  if (auto pit = g.pending_members.find(in.member_id); pit != g.pending_members.end()) {
    g.pending_members.erase(pit);
    if (g.members.size() >= size_t(_settings.max_size))
      return reply(error_code::group_max_size_reached, in.member_id);
    add_member_and_rebalance(g, ticket, in, in.member_id);
    return;
  }
  auto mit = g.members.find(in.member_id);
  if (mit == g.members.end()) return reply(error_code::unknown_member_id, in.member_id);
  member& m = mit->second;
  switch (g.state) {
    case group_state::preparing_rebalance:
      update_member_and_rebalance(g, m, ticket, in);
      return;
    case group_state::completing_rebalance:
      if (m.protocols == in.protocols) {
        // The member missed the join answer: send it again.
        m.join_ticket = ticket;
        reply_join(g, m, error_code::none);
        return;
      }
      update_member_and_rebalance(g, m, ticket, in);
      return;
    case group_state::stable:
      if (g.leader == m.id || m.protocols != in.protocols) {
        update_member_and_rebalance(g, m, ticket, in);
        return;
      }
      m.join_ticket = ticket;
      m.last_heartbeat_ms = _clock.monotonic_ms();
      reply_join(g, m, error_code::none);
      return;
    case group_state::empty:
    case group_state::dead:
      return reply(error_code::unknown_member_id, in.member_id);
  }
}

void group_coordinator::add_member_and_rebalance(group& g, uint64_t ticket, join_input& in,
                                                 std::string member_id) {
  member m;
  m.id = member_id;
  m.instance_id = in.instance_id;
  m.client_id = in.client_id;
  m.client_host = in.client_host;
  m.session_timeout_ms = in.session_timeout_ms;
  m.rebalance_timeout_ms = in.rebalance_timeout_ms;
  m.protocol_type = in.protocol_type;
  m.protocols = in.protocols;
  m.join_ticket = ticket;
  m.supports_skip_assignment = in.supports_skip_assignment;
  m.last_heartbeat_ms = _clock.monotonic_ms();
  if (g.members.empty()) g.protocol_type = in.protocol_type;
  g.members.emplace(member_id, std::move(m));
  g.join_order.push_back(member_id);
  lg().info("group {}: member {} joined", g.id, member_id);
  if (g.state == group_state::preparing_rebalance && g.initial_delay) {
    // Each newcomer during the initial delay extends it, up to the rebalance timeout.
    g.rebalance_deadline_ms = std::min(g.initial_delay_cap_ms,
                                       _clock.monotonic_ms() + _settings.initial_rebalance_delay_ms);
  }
  prepare_rebalance(g, "member joined");
  maybe_complete_join(g);
}

void group_coordinator::update_member_and_rebalance(group& g, member& m, uint64_t ticket,
                                                    join_input& in) {
  if (m.join_ticket && *m.join_ticket != ticket) {
    // A second JoinGroup while one is parked: the old one is superseded.
    join_output o;
    o.error = error_code::rebalance_in_progress;
    o.member_id = m.id;
    _out.joins.emplace_back(*m.join_ticket, std::move(o));
    m.join_ticket.reset();
  }
  m.protocols = in.protocols;
  m.session_timeout_ms = in.session_timeout_ms;
  m.rebalance_timeout_ms = in.rebalance_timeout_ms;
  m.supports_skip_assignment = in.supports_skip_assignment;
  m.join_ticket = ticket;
  m.last_heartbeat_ms = _clock.monotonic_ms();
  prepare_rebalance(g, "member rejoined");
  maybe_complete_join(g);
}

void group_coordinator::prepare_rebalance(group& g, const char* reason) {
  if (g.state == group_state::preparing_rebalance) return;
  if (g.state == group_state::completing_rebalance) {
    // Kafka's resetAndPropagateAssignmentWithError: a rebalance interrupting the sync drops the
    // assignments; one starting from Stable keeps each member's until the next sync.
    fail_pending_syncs(g, error_code::rebalance_in_progress);
    for (auto& [id, m] : g.members) m.assignment.clear();
  }
  const int64_t now = _clock.monotonic_ms();
  int32_t rebalance_timeout = 0;
  for (const auto& [id, m] : g.members) rebalance_timeout = std::max(rebalance_timeout, m.rebalance_timeout_ms);
  if (g.state == group_state::empty && _settings.initial_rebalance_delay_ms > 0) {
    g.initial_delay = true;
    g.initial_delay_cap_ms = now + rebalance_timeout;
    g.rebalance_deadline_ms = std::min(now + _settings.initial_rebalance_delay_ms, g.initial_delay_cap_ms);
  } else {
    g.initial_delay = false;
    g.rebalance_deadline_ms = now + rebalance_timeout;
  }
  lg().info("group {}: preparing rebalance (generation {}): {}", g.id, g.generation, reason);
  g.state = group_state::preparing_rebalance;
  g.state_timestamp_ms = _clock.now_ms();
}

void group_coordinator::maybe_complete_join(group& g) {
  if (g.state != group_state::preparing_rebalance) return;
  if (g.members.empty() && g.pending_members.empty()) return complete_join(g);
  if (g.initial_delay) return;  // waits for its timer
  if (g.all_joined()) complete_join(g);
}

void group_coordinator::complete_join(group& g) {
  // Dynamic members that did not rejoin in time are dropped; static ones stay until their session
  // expires.
  std::vector<std::string> gone;
  for (const auto& [id, m] : g.members)
    if (!m.join_ticket && !m.instance_id) gone.push_back(id);
  for (const auto& id : gone) {
    g.members.erase(id);
    std::erase(g.join_order, id);
  }
  g.pending_members.clear();
  g.initial_delay = false;
  g.generation++;
  g.state_timestamp_ms = _clock.now_ms();
  if (g.members.empty()) {
    g.state = group_state::empty;
    g.protocol_name.reset();
    g.leader.reset();
    lg().info("group {}: generation {} with no members, now Empty", g.id, g.generation);
    persist(g);
    return;
  }
  g.protocol_name = select_protocol(g);
  if (!g.leader || !g.members.count(*g.leader)) {
    g.leader.reset();
    for (const auto& id : g.join_order)
      if (g.members.at(id).join_ticket) { g.leader = id; break; }
    if (!g.leader) g.leader = g.join_order.front();
  }
  g.state = group_state::completing_rebalance;
  lg().info("group {}: generation {} with {} members, protocol {}, leader {}", g.id, g.generation,
            g.members.size(), g.protocol_name.value_or("?"), *g.leader);
  const int64_t now = _clock.monotonic_ms();
  for (auto& [id, m] : g.members) {
    m.last_heartbeat_ms = now;
    if (m.join_ticket) reply_join(g, m, error_code::none);
  }
}

void group_coordinator::reply_join(group& g, member& m, error_code err) {
  if (!m.join_ticket) return;
  join_output o;
  o.error = err;
  o.member_id = m.id;
  if (err == error_code::none) {
    o.generation = g.generation;
    o.protocol_type = g.protocol_type;
    o.protocol_name = g.protocol_name;
    o.leader = g.leader.value_or("");
    if (g.leader == m.id) {
      for (const auto& id : g.join_order) {
        const member& x = g.members.at(id);
        const auto* md = g.protocol_name ? x.metadata_for(*g.protocol_name) : nullptr;
        o.members.push_back({x.id, x.instance_id, md ? *md : std::vector<uint8_t>{}});
      }
    }
  }
  _out.joins.emplace_back(*m.join_ticket, std::move(o));
  m.join_ticket.reset();
}

void group_coordinator::fail_pending_syncs(group& g, error_code err) {
  for (auto& [id, m] : g.members) {
    if (!m.sync_ticket) continue;
    sync_output o;
    o.error = err;
    _out.syncs.emplace_back(*m.sync_ticket, std::move(o));
    m.sync_ticket.reset();
  }
}

// ---------------------------------------------------------------- SyncGroup
void group_coordinator::sync(uint64_t ticket, sync_input in) {
  auto reply = [&](error_code e) {
    sync_output o;
    o.error = e;
    _out.syncs.emplace_back(ticket, std::move(o));
  };
  group* gp = find(in.group_id);
  if (in.group_id.empty()) return reply(error_code::invalid_group_id);
  if (!gp) return reply(error_code::unknown_member_id);
  group& g = *gp;
  if (g.state == group_state::dead) return reply(error_code::coordinator_not_available);
  if (in.instance_id) {
    auto sit = g.static_members.find(*in.instance_id);
    if (sit != g.static_members.end() && sit->second != in.member_id)
      return reply(error_code::fenced_instance_id);
  }
  auto mit = g.members.find(in.member_id);
  if (mit == g.members.end()) return reply(error_code::unknown_member_id);
  if (in.generation != g.generation) return reply(error_code::illegal_generation);
  if ((in.protocol_type && *in.protocol_type != g.protocol_type) ||
      (in.protocol_name && *in.protocol_name != g.protocol_name))
    return reply(error_code::inconsistent_group_protocol);
  member& m = mit->second;
  switch (g.state) {
    case group_state::empty:
    case group_state::dead: return reply(error_code::unknown_member_id);
    case group_state::preparing_rebalance: return reply(error_code::rebalance_in_progress);
    case group_state::completing_rebalance: {
      if (m.sync_ticket && *m.sync_ticket != ticket) {
        sync_output o;
        o.error = error_code::rebalance_in_progress;
        _out.syncs.emplace_back(*m.sync_ticket, std::move(o));
      }
      m.sync_ticket = ticket;
      m.last_heartbeat_ms = _clock.monotonic_ms();
      if (g.leader != m.id) return;  // waits for the leader's assignment
      for (auto& [id, x] : g.members) x.assignment.clear();
      for (auto& [id, bytes] : in.assignments) {
        auto it = g.members.find(id);
        if (it != g.members.end()) it->second.assignment = std::move(bytes);
      }
      g.state = group_state::stable;
      g.state_timestamp_ms = _clock.now_ms();
      lg().info("group {}: generation {} stable", g.id, g.generation);
      persist(g);
      for (auto& [id, x] : g.members) {
        if (!x.sync_ticket) continue;
        sync_output o;
        o.protocol_type = g.protocol_type;
        o.protocol_name = g.protocol_name;
        o.assignment = x.assignment;
        _out.syncs.emplace_back(*x.sync_ticket, std::move(o));
        x.sync_ticket.reset();
      }
      return;
    }
    case group_state::stable: {
      m.last_heartbeat_ms = _clock.monotonic_ms();
      sync_output o;
      o.protocol_type = g.protocol_type;
      o.protocol_name = g.protocol_name;
      o.assignment = m.assignment;
      _out.syncs.emplace_back(ticket, std::move(o));
      return;
    }
  }
}

void group_coordinator::cancel(uint64_t ticket) {
  for (auto& [gid, g] : _groups)
    for (auto& [id, m] : g->members) {
      if (m.join_ticket == ticket) m.join_ticket.reset();
      if (m.sync_ticket == ticket) m.sync_ticket.reset();
    }
}

// ---------------------------------------------------------------- Heartbeat / LeaveGroup
error_code group_coordinator::heartbeat(const std::string& group_id, const std::string& member_id,
                                        const std::optional<std::string>& instance_id,
                                        int32_t generation) {
  group* g = find(group_id);
  if (!g) return error_code::unknown_member_id;
  if (g->state == group_state::dead) return error_code::coordinator_not_available;
  if (instance_id) {
    auto sit = g->static_members.find(*instance_id);
    if (sit != g->static_members.end() && sit->second != member_id) return error_code::fenced_instance_id;
  }
  auto mit = g->members.find(member_id);
  if (mit == g->members.end()) return error_code::unknown_member_id;
  if (generation != g->generation) return error_code::illegal_generation;
  switch (g->state) {
    case group_state::empty: return error_code::unknown_member_id;
    case group_state::dead: return error_code::coordinator_not_available;
    case group_state::preparing_rebalance:
      mit->second.last_heartbeat_ms = _clock.monotonic_ms();
      return error_code::rebalance_in_progress;
    case group_state::completing_rebalance:
    case group_state::stable:
      mit->second.last_heartbeat_ms = _clock.monotonic_ms();
      return error_code::none;
  }
  return error_code::none;
}

std::vector<error_code> group_coordinator::leave(const std::string& group_id,
                                                 const std::vector<leave_member>& members,
                                                 error_code* group_error) {
  std::vector<error_code> out;
  *group_error = error_code::none;
  group* g = find(group_id);
  if (!g) {
    *group_error = error_code::unknown_member_id;
    return out;
  }
  if (g->state == group_state::dead) {
    *group_error = error_code::coordinator_not_available;
    return out;
  }
  for (const auto& lm : members) {
    std::string id = lm.member_id;
    if (lm.instance_id) {
      auto sit = g->static_members.find(*lm.instance_id);
      if (sit == g->static_members.end()) { out.push_back(error_code::unknown_member_id); continue; }
      if (!id.empty() && sit->second != id) { out.push_back(error_code::fenced_instance_id); continue; }
      id = sit->second;
    }
    if (g->pending_members.erase(id)) {
      out.push_back(error_code::none);
      maybe_complete_join(*g);
      continue;
    }
    if (!g->members.count(id)) { out.push_back(error_code::unknown_member_id); continue; }
    out.push_back(error_code::none);
    remove_member(*g, id, "member left");
  }
  return out;
}

void group_coordinator::remove_member(group& g, const std::string& member_id, const char* reason) {
  auto it = g.members.find(member_id);
  if (it == g.members.end()) return;
  member& m = it->second;
  if (m.join_ticket) {
    join_output o;
    o.error = error_code::unknown_member_id;
    o.member_id = m.id;
    _out.joins.emplace_back(*m.join_ticket, std::move(o));
  }
  if (m.sync_ticket) {
    sync_output o;
    o.error = error_code::unknown_member_id;
    _out.syncs.emplace_back(*m.sync_ticket, std::move(o));
  }
  if (m.instance_id) {
    auto sit = g.static_members.find(*m.instance_id);
    if (sit != g.static_members.end() && sit->second == member_id) g.static_members.erase(sit);
  }
  lg().info("group {}: removing member {}: {}", g.id, member_id, reason);
  g.members.erase(it);
  std::erase(g.join_order, member_id);
  switch (g.state) {
    case group_state::stable:
    case group_state::completing_rebalance: prepare_rebalance(g, reason); break;
    default: break;
  }
  maybe_complete_join(g);
}

// ---------------------------------------------------------------- timers
void group_coordinator::tick() {
  const int64_t now = _clock.monotonic_ms();
  for (auto& [gid, gp] : _groups) {
    group& g = *gp;
    for (auto it = g.pending_members.begin(); it != g.pending_members.end();) {
      if (it->second <= now) it = g.pending_members.erase(it);
      else ++it;
    }
    std::vector<std::string> expired;
    for (const auto& [id, m] : g.members) {
      if (m.join_ticket || m.sync_ticket) continue;  // kept alive while waiting on us
      if (m.last_heartbeat_ms + m.session_timeout_ms <= now) expired.push_back(id);
    }
    for (const auto& id : expired) remove_member(g, id, "session timeout");
    if (g.state == group_state::preparing_rebalance) {
      if (g.rebalance_deadline_ms <= now) complete_join(g);
      else if (!g.initial_delay) maybe_complete_join(g);
    }
  }
}

outbox group_coordinator::take_outbox() {
  outbox o = std::move(_out);
  _out = outbox{};
  return o;
}

void group_coordinator::persist(group& g) { _out.persist.emplace_back(g.id, snapshot(g)); }

group_snapshot group_coordinator::snapshot(const group& g) const {
  group_snapshot s;
  s.protocol_type = g.protocol_type;
  s.generation = g.generation;
  s.protocol_name = g.protocol_name;
  s.leader = g.leader;
  s.state_timestamp_ms = g.state_timestamp_ms;
  if (g.state == group_state::stable) {
    for (const auto& id : g.join_order) {
      const member& m = g.members.at(id);
      member_snapshot ms;
      ms.member_id = m.id;
      ms.instance_id = m.instance_id;
      ms.client_id = m.client_id;
      ms.client_host = m.client_host;
      ms.rebalance_timeout_ms = m.rebalance_timeout_ms;
      ms.session_timeout_ms = m.session_timeout_ms;
      if (g.protocol_name)
        if (const auto* md = m.metadata_for(*g.protocol_name)) ms.subscription = *md;
      ms.assignment = m.assignment;
      s.members.push_back(std::move(ms));
    }
  }
  return s;
}

// ---------------------------------------------------------------- offsets
error_code group_coordinator::validate_commit(const std::string& group_id, int32_t generation,
                                              const std::string& member_id,
                                              const std::optional<std::string>& instance_id) {
  // The empty group id is accepted, as Kafka 4.x does (backwards compatibility): "" can never
  // join, so only simple commits (generation -1) succeed for it.
  group* g = find(group_id);
  if (!g) return generation < 0 ? error_code::none : error_code::illegal_generation;
  if (g->state == group_state::dead) return error_code::coordinator_not_available;
  if (generation < 0 && g->state == group_state::empty) return error_code::none;
  if (g->state == group_state::completing_rebalance) return error_code::rebalance_in_progress;
  if (instance_id) {
    auto sit = g->static_members.find(*instance_id);
    if (sit != g->static_members.end() && sit->second != member_id) return error_code::fenced_instance_id;
  }
  auto mit = g->members.find(member_id);
  if (mit == g->members.end()) return error_code::unknown_member_id;
  if (generation != g->generation) return error_code::illegal_generation;
  mit->second.last_heartbeat_ms = _clock.monotonic_ms();
  return error_code::none;
}

void group_coordinator::store_offset(const std::string& group_id, const topic_partition& tp,
                                     committed_offset o, int64_t record_offset) {
  group& g = get_or_create(group_id);
  g.offsets[tp] = std::move(o);
  g.record_offsets[tp] = record_offset;
}

void group_coordinator::erase_offset(const std::string& group_id, const topic_partition& tp) {
  group* g = find(group_id);
  if (!g) return;
  g->offsets.erase(tp);
  g->record_offsets.erase(tp);
  for (auto it = g->pending_txn.begin(); it != g->pending_txn.end();) {
    it->second.erase(tp);
    if (it->second.empty()) it = g->pending_txn.erase(it);
    else ++it;
  }
}

// ---------------------------------------------------------------- transactional offsets
error_code group_coordinator::validate_txn_commit(const std::string& group_id, int32_t generation,
                                                  const std::string& member_id,
                                                  const std::optional<std::string>& instance_id) const {
  const group* g = find(group_id);
  if (!g) return generation < 0 ? error_code::none : error_code::illegal_generation;
  if (g->state == group_state::dead) return error_code::coordinator_not_available;
  if (generation < 0 && g->state == group_state::empty) return error_code::none;
  // Transactional commits need no member (v0-v2 cannot name one): they are only checked when the
  // request names a generation, a member or an instance.
  if (generation < 0 && member_id.empty() && !instance_id) return error_code::none;
  if (instance_id) {
    auto sit = g->static_members.find(*instance_id);
    if (sit == g->static_members.end()) return error_code::unknown_member_id;
    if (sit->second != member_id) return error_code::fenced_instance_id;
  } else if (!g->members.count(member_id)) {
    return error_code::unknown_member_id;
  }
  if (generation != g->generation) return error_code::illegal_generation;
  return error_code::none;
}

void group_coordinator::store_txn_offset(const std::string& group_id, int64_t producer_id,
                                         const topic_partition& tp, committed_offset o,
                                         int64_t record_offset) {
  get_or_create(group_id).pending_txn[producer_id][tp] = {std::move(o), record_offset};
}

void group_coordinator::complete_txn(int64_t producer_id, bool commit, int32_t offsets_partition,
                                     int32_t partitions) {
  for (auto& [id, g] : _groups) {
    auto pit = g->pending_txn.find(producer_id);
    if (pit == g->pending_txn.end()) continue;
    if (offsets_partition_for(id, partitions) != offsets_partition) continue;
    auto pending = std::move(pit->second);
    g->pending_txn.erase(pit);
    if (!commit) {
      lg().debug("group {}: transactional offsets of producer {} aborted", id, producer_id);
      continue;
    }
    for (auto& [tp, entry] : pending) {
      auto rit = g->record_offsets.find(tp);
      // A regular commit written after the transactional one wins, whatever the marker says.
      if (g->offsets.count(tp) && rit != g->record_offsets.end() && rit->second >= entry.second) continue;
      g->offsets[tp] = std::move(entry.first);
      g->record_offsets[tp] = entry.second;
    }
    lg().debug("group {}: transactional offsets of producer {} committed", id, producer_id);
  }
}

bool group_coordinator::has_pending_txn_offset(const std::string& group_id,
                                               const topic_partition& tp) const {
  const group* g = find(group_id);
  if (!g) return false;
  for (const auto& [pid, offsets] : g->pending_txn)
    if (offsets.count(tp)) return true;
  return false;
}

std::vector<topic_partition> group_coordinator::pending_txn_partitions(const std::string& group_id) const {
  std::set<topic_partition> out;
  if (const group* g = find(group_id))
    for (const auto& [pid, offsets] : g->pending_txn)
      for (const auto& [tp, entry] : offsets) out.insert(tp);
  return {out.begin(), out.end()};
}

void group_coordinator::drop_pending_txn_offsets(const std::string& group_id) {
  if (group* g = find(group_id)) g->pending_txn.clear();
}

std::optional<committed_offset> group_coordinator::offset_of(const std::string& group_id,
                                                             const topic_partition& tp) const {
  const group* g = find(group_id);
  if (!g) return std::nullopt;
  auto it = g->offsets.find(tp);
  if (it == g->offsets.end()) return std::nullopt;
  return it->second;
}

std::map<topic_partition, committed_offset> group_coordinator::offsets_of(
    const std::string& group_id) const {
  const group* g = find(group_id);
  return g ? g->offsets : std::map<topic_partition, committed_offset>{};
}

error_code group_coordinator::check_offset_delete(const std::string& group_id) const {
  const group* g = find(group_id);
  if (!g || g->state == group_state::dead) return error_code::group_id_not_found;
  return error_code::none;
}

bool group_coordinator::subscribed(const std::string& group_id, const std::string& topic) const {
  const group* g = find(group_id);
  if (!g || g->state == group_state::empty || g->state == group_state::dead) return false;
  if (g->protocol_type != "consumer" || !g->protocol_name) return true;
  for (const auto& [id, m] : g->members) {
    const auto* md = m.metadata_for(*g->protocol_name);
    if (!md) continue;
    auto topics = subscription_topics(*md);
    if (std::find(topics.begin(), topics.end(), topic) != topics.end()) return true;
  }
  return false;
}

std::vector<std::pair<std::string, topic_partition>> group_coordinator::expired_offsets(
    int64_t retention_ms) const {
  std::vector<std::pair<std::string, topic_partition>> out;
  const int64_t now = _clock.now_ms();
  for (const auto& [id, g] : _groups) {
    if (g->state != group_state::empty) continue;
    const bool whole_group = !g->protocol_type.empty();
    for (const auto& [tp, o] : g->offsets) {
      const int64_t since = whole_group ? g->state_timestamp_ms : o.commit_timestamp_ms;
      // Kept while a transaction may still commit an offset for it.
      if (since + retention_ms <= now && !has_pending_txn_offset(id, tp)) out.emplace_back(id, tp);
    }
  }
  return out;
}

// ---------------------------------------------------------------- admin
std::vector<group_listing> group_coordinator::list() const {
  std::vector<group_listing> out;
  for (const auto& [id, g] : _groups)
    if (g->state != group_state::dead) out.push_back({id, g->protocol_type, g->state});
  return out;
}

group_description group_coordinator::describe(const std::string& group_id) const {
  group_description d;
  d.group_id = group_id;
  const group* g = find(group_id);
  if (!g) {
    d.error = error_code::group_id_not_found;
    return d;
  }
  d.state = g->state;
  d.protocol_type = g->protocol_type;
  // As Kafka 4.3.1 answers (checked by the differential check's classic_rebalance): outside
  // Stable no protocol and no member metadata, but each member's current assignment (kept from
  // the last sync while a rebalance runs).
  const bool stable = g->state == group_state::stable;
  if (stable) d.protocol_data = g->protocol_name.value_or("");
  for (const auto& id : g->join_order) {
    const member& m = g->members.at(id);
    described_member dm;
    dm.member_id = m.id;
    dm.instance_id = m.instance_id;
    dm.client_id = m.client_id;
    dm.client_host = m.client_host;
    if (stable && g->protocol_name)
      if (const auto* md = m.metadata_for(*g->protocol_name)) dm.metadata = *md;
    dm.assignment = m.assignment;
    d.members.push_back(std::move(dm));
  }
  return d;
}

error_code group_coordinator::delete_group(const std::string& group_id,
                                           std::vector<topic_partition>* deleted_offsets) {
  group* g = find(group_id);
  if (!g || g->state == group_state::dead) return error_code::group_id_not_found;
  if (g->state != group_state::empty) return error_code::non_empty_group;
  for (const auto& [tp, o] : g->offsets) deleted_offsets->push_back(tp);
  // Partitions with only pending transactional offsets get a tombstone too (Kafka's
  // deleteAllOffsets), so a replay drops those pending offsets as well.
  for (const auto& tp : pending_txn_partitions(group_id))
    if (!g->offsets.count(tp)) deleted_offsets->push_back(tp);
  _out.persist.emplace_back(group_id, std::nullopt);
  _groups.erase(group_id);
  lg().info("group {} deleted", group_id);
  return error_code::none;
}

// ---------------------------------------------------------------- loading
void group_coordinator::load_group(const std::string& group_id, const group_snapshot& s) {
  group& g = get_or_create(group_id);
  g.protocol_type = s.protocol_type;
  g.generation = s.generation;
  g.protocol_name = s.protocol_name;
  g.leader = s.leader;
  g.state_timestamp_ms = s.state_timestamp_ms;
  g.members.clear();
  g.join_order.clear();
  g.static_members.clear();
  const int64_t now = _clock.monotonic_ms();
  for (const auto& ms : s.members) {
    member m;
    m.id = ms.member_id;
    m.instance_id = ms.instance_id;
    m.client_id = ms.client_id;
    m.client_host = ms.client_host;
    m.session_timeout_ms = ms.session_timeout_ms;
    m.rebalance_timeout_ms = ms.rebalance_timeout_ms;
    m.protocol_type = s.protocol_type;
    if (s.protocol_name) m.protocols.push_back({*s.protocol_name, ms.subscription});
    m.assignment = ms.assignment;
    m.last_heartbeat_ms = now;
    if (m.instance_id) g.static_members[*m.instance_id] = m.id;
    g.join_order.push_back(m.id);
    g.members.emplace(m.id, std::move(m));
  }
  if (g.members.empty() || !g.leader || !g.members.count(*g.leader)) {
    g.members.clear();
    g.join_order.clear();
    g.static_members.clear();
    g.leader.reset();
    g.state = group_state::empty;
  } else {
    g.state = group_state::stable;
  }
}

void group_coordinator::unload_group(const std::string& group_id) {
  auto it = _groups.find(group_id);
  if (it == _groups.end()) return;
  // A group tombstone removes the group's metadata; its offsets (committed and pending
  // transactional ones) are separate records.
  if (it->second->offsets.empty() && it->second->pending_txn.empty()) {
    _groups.erase(it);
    return;
  }
  it->second->members.clear();
  it->second->join_order.clear();
  it->second->static_members.clear();
  it->second->state = group_state::empty;
  it->second->generation = 0;
  it->second->protocol_type.clear();
  it->second->protocol_name.reset();
  it->second->leader.reset();
}

void group_coordinator::forget_group(const std::string& group_id) { _groups.erase(group_id); }

bool group_coordinator::has_group(const std::string& group_id) const { return find(group_id) != nullptr; }

std::optional<group_state> group_coordinator::state_of(const std::string& group_id) const {
  const group* g = find(group_id);
  if (!g) return std::nullopt;
  return g->state;
}

int32_t group_coordinator::generation_of(const std::string& group_id) const {
  const group* g = find(group_id);
  return g ? g->generation : -1;
}

// ---------------------------------------------------------------- helpers
int32_t java_string_hash(std::string_view s) {
  uint32_t h = 0;
  auto add = [&](uint16_t unit) { h = h * 31u + unit; };
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = uint8_t(s[i]);
    uint32_t cp;
    size_t len;
    if (c < 0x80) { cp = c; len = 1; }
    else if ((c >> 5) == 0x6 && i + 1 < s.size()) { cp = ((c & 0x1f) << 6) | (uint8_t(s[i + 1]) & 0x3f); len = 2; }
    else if ((c >> 4) == 0xe && i + 2 < s.size()) {
      cp = ((c & 0x0f) << 12) | ((uint8_t(s[i + 1]) & 0x3f) << 6) | (uint8_t(s[i + 2]) & 0x3f);
      len = 3;
    } else if ((c >> 3) == 0x1e && i + 3 < s.size()) {
      cp = ((c & 0x07) << 18) | ((uint8_t(s[i + 1]) & 0x3f) << 12) | ((uint8_t(s[i + 2]) & 0x3f) << 6) |
           (uint8_t(s[i + 3]) & 0x3f);
      len = 4;
    } else { cp = 0xfffd; len = 1; }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      add(uint16_t(0xd800 + (cp >> 10)));
      add(uint16_t(0xdc00 + (cp & 0x3ff)));
    } else {
      add(uint16_t(cp));
    }
    i += len;
  }
  return int32_t(h);
}

int32_t offsets_partition_for(std::string_view group_id, int32_t partitions) {
  int32_t h = java_string_hash(group_id);
  int32_t a = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
  return partitions <= 0 ? 0 : a % partitions;
}

std::vector<std::string> subscription_topics(const std::vector<uint8_t>& md) {
  std::vector<std::string> out;
  size_t pos = 0;
  auto need = [&](size_t n) { return pos + n <= md.size(); };
  if (!need(6)) return {};
  pos = 2;  // version
  int32_t n = int32_t(uint32_t(md[pos]) << 24 | uint32_t(md[pos + 1]) << 16 | uint32_t(md[pos + 2]) << 8 | md[pos + 3]);
  pos += 4;
  if (n < 0 || n > 100000) return {};
  for (int32_t i = 0; i < n; ++i) {
    if (!need(2)) return {};
    int16_t len = int16_t(uint16_t(md[pos]) << 8 | md[pos + 1]);
    pos += 2;
    if (len < 0 || !need(size_t(len))) return {};
    out.emplace_back(reinterpret_cast<const char*>(md.data() + pos), size_t(len));
    pos += size_t(len);
  }
  return out;
}

}  // namespace gregor::group
