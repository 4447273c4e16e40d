#include "gregor/group/consumer_group.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "gregor/base/log.h"

namespace gregor::group {
namespace {
// A record with its key set (type, group, member): what every persisted record and tombstone starts from.
cg_record record_key(cg_record::kind type, const std::string& group_id, const std::string& member_id = {}) {
  cg_record r;
  r.type = type;
  r.group_id = group_id;
  r.member_id = member_id;
  return r;
}
spdlog::logger& lg() { return log::get("group"); }
using protocol::error_code;

std::string random_member_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", rng(), rng());
}

// Internal topics never match a regex subscription (Kafka leaves them out too).
bool internal_topic(const std::string& t) { return t == "__consumer_offsets" || t == "__transaction_state"; }
}  // namespace

std::map<std::string, std::set<int32_t>> range_assign_topic(
    int32_t partitions, const std::vector<std::string>& members,
    const std::map<std::string, std::set<int32_t>>& previous) {
  std::map<std::string, std::set<int32_t>> out;
  if (members.empty() || partitions <= 0) return out;
  const int32_t quota = partitions / int32_t(members.size());
  int32_t extras = partitions % int32_t(members.size());
  std::set<int32_t> kept;
  std::vector<std::pair<std::string, int32_t>> unfilled;  // (member, partitions still owed)
  for (const auto& id : members) {
    out[id];
    std::vector<int32_t> had;
    if (auto it = previous.find(id); it != previous.end())
      for (int32_t p : it->second)
        if (p >= 0 && p < partitions) had.push_back(p);  // a std::set: ascending already
    const int32_t keep = std::min<int32_t>(int32_t(had.size()), quota);
    for (int32_t i = 0; i < keep; ++i) {
      kept.insert(had[size_t(i)]);
      out[id].insert(had[size_t(i)]);
    }
    const int32_t remaining = quota - int32_t(had.size());
    if (remaining < 0 && extras > 0) {
      // It had more than its quota: it keeps one more as one of the extras.
      extras--;
      kept.insert(had[size_t(quota)]);
      out[id].insert(had[size_t(quota)]);
    } else {
      unfilled.emplace_back(id, remaining);
    }
  }
  std::vector<int32_t> free;
  for (int32_t p = 0; p < partitions; ++p)
    if (!kept.count(p)) free.push_back(p);
  size_t next = 0;
  for (auto& [id, remaining] : unfilled) {
    if (extras > 0) {
      remaining++;
      extras--;
    }
    for (int32_t i = 0; i < remaining && next < free.size(); ++i) out[id].insert(free[next++]);
  }
  return out;
}

consumer_group_coordinator::consumer_group_coordinator(clock& clk, int32_t session_timeout_ms,
                                                       topic_lookup topics, topic_list all_topics)
    : _clock(clk),
      _session_timeout_ms(session_timeout_ms),
      _topics(std::move(topics)),
      _all_topics(std::move(all_topics)) {}

const gregor::regex* consumer_group_coordinator::compiled(const std::string& pattern) const {
  auto it = _regexes.find(pattern);
  if (it != _regexes.end()) return it->second.get();
  std::shared_ptr<gregor::regex> re;
  if (auto r = gregor::regex::compile(pattern)) re = std::make_shared<gregor::regex>(std::move(*r));
  if (_regexes.size() > 1024) _regexes.clear();
  _regexes.emplace(pattern, re);
  return re.get();
}

std::set<std::string> consumer_group_coordinator::topics_of(const member& m) const {
  std::set<std::string> out(m.topics.begin(), m.topics.end());
  if (!m.regex || m.regex->empty() || !_all_topics) return out;
  std::vector<std::string> names = _all_topics();
  std::sort(names.begin(), names.end());
  if (names != _topic_names) {
    _topic_names = std::move(names);
    _resolved.clear();
  }
  auto it = _resolved.find(*m.regex);
  if (it == _resolved.end()) {
    std::set<std::string> matched;
    if (const gregor::regex* re = compiled(*m.regex))
      for (const auto& t : _topic_names)
        if (!internal_topic(t) && re->full_match(t)) matched.insert(t);
    it = _resolved.emplace(*m.regex, std::move(matched)).first;
  }
  for (const auto& t : it->second)
    if (!m.may_describe || m.may_describe(t)) out.insert(t);
  return out;
}

std::map<std::string, int32_t> consumer_group_coordinator::subscribed_counts(const group& g) const {
  std::map<std::string, int32_t> out;
  for (const auto& [id, m] : g.members)
    for (const auto& t : topics_of(m))
      if (!out.count(t)) out[t] = _topics(t);
  return out;
}

std::string consumer_group_coordinator::assignor_of(const group& g) const {
  // The assignor most members ask for (ties: the smaller name); uniform when nobody asks.
  std::map<std::string, int> votes;
  for (const auto& [id, m] : g.members)
    if (m.server_assignor) votes[*m.server_assignor]++;
  std::string best = "uniform";
  int best_votes = 0;
  for (const auto& [name, n] : votes)
    if (n > best_votes) {
      best = name;
      best_votes = n;
    }
  return best;
}

void consumer_group_coordinator::assign_uniform(group& g, const std::string& topic, int32_t n,
                                                const std::vector<std::string>& subs,
                                                std::map<std::string, assignment_set>& next) {
  const int32_t base = n / int32_t(subs.size());
  int32_t extras = n % int32_t(subs.size());
  std::map<std::string, int32_t> count;
  std::vector<int32_t> unassigned;
  auto prev_owner = [&](int32_t p) -> std::optional<std::string> {
    topic_partition tp{topic, partition_id{p}};
    for (const auto& id : subs) {
      auto it = g.target.find(id);
      if (it != g.target.end() && it->second.count(tp)) return id;
    }
    return std::nullopt;
  };
  // Sticky pass: previous owners keep up to their base share, then the extras.
  std::vector<std::pair<int32_t, std::string>> over_base;
  for (int32_t p = 0; p < n; ++p) {
    auto o = prev_owner(p);
    if (o && count[*o] < base) {
      next[*o].insert({topic, partition_id{p}});
      count[*o]++;
    } else if (o) {
      over_base.emplace_back(p, *o);
    } else {
      unassigned.push_back(p);
    }
  }
  std::set<std::string> got_extra;
  for (auto& [p, o] : over_base) {
    if (extras > 0 && count[o] == base && !got_extra.count(o)) {
      next[o].insert({topic, partition_id{p}});
      count[o]++;
      got_extra.insert(o);
      extras--;
    } else {
      unassigned.push_back(p);
    }
  }
  std::sort(unassigned.begin(), unassigned.end());
  for (int32_t p : unassigned) {
    // The least loaded subscriber that still has room.
    std::string best;
    for (const auto& id : subs) {
      const int32_t cap = base + ((extras > 0 && count[id] == base) || got_extra.count(id) ? 1 : 0);
      if (count[id] >= cap) continue;
      if (best.empty() || count[id] < count[best]) best = id;
    }
    if (best.empty()) best = subs.front();
    if (count[best] == base && !got_extra.count(best)) {
      got_extra.insert(best);
      extras--;
    }
    next[best].insert({topic, partition_id{p}});
    count[best]++;
  }
}

void consumer_group_coordinator::compute_target(group& g) {
  g.partition_counts = subscribed_counts(g);
  std::map<std::string, assignment_set> next;
  std::map<std::string, std::set<std::string>> topics;
  for (const auto& [id, m] : g.members) {
    next[id];
    topics[id] = topics_of(m);
  }
  const bool range = assignor_of(g) == "range";
  for (const auto& [topic, n] : g.partition_counts) {
    if (n <= 0) continue;
    std::vector<std::string> subs;  // sorted by member id (map order)
    for (const auto& [id, m] : g.members)
      if (topics[id].count(topic)) subs.push_back(id);
    if (subs.empty()) continue;
    if (!range) {
      assign_uniform(g, topic, n, subs, next);
      continue;
    }
    std::map<std::string, std::set<int32_t>> previous;
    for (const auto& id : subs)
      if (auto it = g.target.find(id); it != g.target.end())
        for (const auto& tp : it->second)
          if (tp.topic == topic) previous[id].insert(tp.partition.value());
    for (const auto& [id, ps] : range_assign_topic(n, subs, previous))
      for (int32_t p : ps) next[id].insert({topic, partition_id{p}});
  }
  g.target = std::move(next);
  g.assignment_epoch = g.epoch;
}

void consumer_group_coordinator::set_pending(member& m, int64_t now_ms) {
  if (m.pending_revocation.empty()) m.revoke_deadline_ms = -1;
  else if (m.revoke_deadline_ms < 0 && m.rebalance_timeout_ms > 0)
    m.revoke_deadline_ms = now_ms + m.rebalance_timeout_ms;
}

void consumer_group_coordinator::reconcile(group& g, member& m) {
  const assignment_set& target = g.target[m.id];
  assignment_set revoke;
  for (const auto& tp : m.current)
    if (!target.count(tp)) revoke.insert(tp);
  if (!revoke.empty()) {
    for (const auto& tp : revoke) {
      m.current.erase(tp);
      m.pending_revocation.insert(tp);
    }
    m.sent_current = false;
  }
  set_pending(m, _clock.monotonic_ms());
  if (!m.pending_revocation.empty()) return;  // the member revokes first, at its old epoch
  if (m.epoch != g.assignment_epoch) {
    m.previous_epoch = m.epoch;
    m.epoch = g.assignment_epoch;
    m.sent_current = false;
  }
  for (const auto& tp : target) {
    if (m.current.count(tp)) continue;
    bool taken = false;
    for (const auto& [id, other] : g.members)
      if (id != m.id && (other.current.count(tp) || other.pending_revocation.count(tp))) {
        taken = true;
        break;
      }
    if (taken) continue;
    m.current.insert(tp);
    m.sent_current = false;
  }
}

cg_heartbeat_output consumer_group_coordinator::heartbeat(cg_heartbeat_input in) {
  cg_heartbeat_output out;
  out.member_id = in.member_id;
  if (in.group_id.empty()) {
    out.error = error_code::invalid_group_id;
    return out;
  }
  const int64_t now = _clock.monotonic_ms();
  if (in.member_epoch < 0) {
    auto git = _groups.find(in.group_id);
    if (git != _groups.end() && git->second.members.count(in.member_id)) {
      remove_member(git->second, in.member_id);
      _dirty.insert(in.group_id);
    }
    out.member_epoch = in.member_epoch;
    return out;
  }
  if (in.member_epoch == 0 && !in.subscribed_topics && !in.subscribed_regex) {
    out.error = error_code::invalid_request;
    return out;
  }
  if (in.subscribed_regex && !in.subscribed_regex->empty() && !compiled(*in.subscribed_regex)) {
    out.error = invalid_regular_expression;
    return out;
  }
  if (in.member_epoch > 0 && !_groups.count(in.group_id)) {
    out.error = error_code::unknown_member_id;
    return out;
  }
  group& g = _groups[in.group_id];
  _dirty.insert(in.group_id);
  bool bump = false;
  if (in.member_epoch == 0) {
    if (in.member_id.empty()) in.member_id = random_member_id();
    out.member_id = in.member_id;
    auto [it, fresh] = g.members.try_emplace(in.member_id);
    member& m = it->second;
    if (fresh) {
      m.id = in.member_id;
      lg().info("consumer group {}: member {} joined", in.group_id, m.id);
      bump = true;
    } else {
      // Rejoin after being fenced: it owns nothing any more.
      m.current.clear();
      m.pending_revocation.clear();
      m.epoch = 0;
    }
    m.sent_current = false;
  }
  auto mit = g.members.find(in.member_id);
  if (mit == g.members.end()) {
    out.error = error_code::unknown_member_id;
    return out;
  }
  member& m = mit->second;
  if (in.member_epoch > 0 && (in.member_epoch > m.epoch || in.member_epoch < m.epoch - 1 ||
                              (in.member_epoch != m.epoch && m.pending_revocation.empty() &&
                               in.owned && !std::includes(m.current.begin(), m.current.end(),
                                                          in.owned->begin(), in.owned->end())))) {
    out.error = error_code::fenced_member_epoch;
    return out;
  }
  m.last_heartbeat_ms = now;
  if (in.instance_id) m.instance_id = in.instance_id;
  if (!in.client_id.empty()) m.client_id = in.client_id;
  if (!in.client_host.empty()) m.client_host = in.client_host;
  if (in.rebalance_timeout_ms > 0) m.rebalance_timeout_ms = in.rebalance_timeout_ms;
  if (in.subscribed_topics) {
    std::vector<std::string> topics = *in.subscribed_topics;
    std::sort(topics.begin(), topics.end());
    topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
    if (topics != m.topics) {
      m.topics = std::move(topics);
      bump = true;
    }
  }
  if (in.subscribed_regex) {
    std::optional<std::string> regex;
    if (!in.subscribed_regex->empty()) regex = *in.subscribed_regex;
    if (regex != m.regex) {
      m.regex = std::move(regex);
      bump = true;
    }
  }
  if (in.may_describe) m.may_describe = std::move(in.may_describe);
  if (in.server_assignor && in.server_assignor != m.server_assignor) {
    m.server_assignor = in.server_assignor;
    bump = true;
  }
  if (in.owned) {
    for (auto it = m.pending_revocation.begin(); it != m.pending_revocation.end();)
      it = in.owned->count(*it) ? std::next(it) : m.pending_revocation.erase(it);
  }
  if (!bump && subscribed_counts(g) != g.partition_counts) bump = true;
  if (bump) {
    g.epoch++;
    compute_target(g);
  }
  reconcile(g, m);
  out.member_epoch = m.epoch;
  if (!m.sent_current || in.member_epoch == 0) {
    out.assignment = m.current;
    m.sent_current = true;
  }
  return out;
}

void consumer_group_coordinator::remove_member(group& g, const std::string& id) {
  g.members.erase(id);
  g.target.erase(id);
  g.epoch++;
  compute_target(g);
}

void consumer_group_coordinator::tick() {
  const int64_t now = _clock.monotonic_ms();
  for (auto& [gid, g] : _groups) {
    std::vector<std::string> expired;
    for (const auto& [id, m] : g.members) {
      if (m.last_heartbeat_ms + _session_timeout_ms <= now) {
        lg().info("consumer group {}: member {} session expired", gid, id);
        expired.push_back(id);
      } else if (m.revoke_deadline_ms >= 0 && now >= m.revoke_deadline_ms) {
        lg().info("consumer group {}: member {} did not revoke {} partitions within its rebalance timeout",
                  gid, id, m.pending_revocation.size());
        expired.push_back(id);
      }
    }
    for (const auto& id : expired) remove_member(g, id);
    if (!expired.empty()) _dirty.insert(gid);
  }
}

// ---- persistence ----
consumer_group_coordinator::persisted consumer_group_coordinator::snapshot(const std::string& gid,
                                                                           const group& g) const {
  persisted p;
  cg_record r = record_key(cg_record::kind::group_metadata, gid);
  r.epoch = g.epoch;
  p.metadata = r;
  r.type = cg_record::kind::partition_metadata;
  r.partition_counts = g.partition_counts;
  p.partitions = r;
  r.partition_counts.clear();
  r.type = cg_record::kind::target_metadata;
  r.epoch = g.assignment_epoch;
  p.target_metadata = r;
  for (const auto& [id, m] : g.members) {
    cg_record mr = record_key(cg_record::kind::member_metadata, gid, id);
    mr.instance_id = m.instance_id;
    mr.client_id = m.client_id;
    mr.client_host = m.client_host;
    mr.topics = m.topics;
    mr.regex = m.regex;
    mr.rebalance_timeout_ms = m.rebalance_timeout_ms;
    mr.server_assignor = m.server_assignor;
    p.members.emplace(id, mr);
    cg_record tr = record_key(cg_record::kind::target_member, gid, id);
    if (auto it = g.target.find(id); it != g.target.end()) tr.partitions = it->second;
    p.targets.emplace(id, tr);
    cg_record cr = record_key(cg_record::kind::current_assignment, gid, id);
    cr.epoch = m.epoch;
    cr.previous_epoch = m.previous_epoch;
    cr.partitions = m.current;
    cr.pending = m.pending_revocation;
    cr.state = !m.pending_revocation.empty() ? 1 : (tr.partitions != m.current ? 2 : 0);
    p.currents.emplace(id, cr);
  }
  return p;
}

std::vector<cg_record> consumer_group_coordinator::pending_records() const {
  std::vector<cg_record> out;
  static const persisted none;
  for (const auto& gid : _dirty) {
    auto pit = _persisted.find(gid);
    const persisted& old = pit == _persisted.end() ? none : pit->second;
    auto git = _groups.find(gid);
    const persisted now = git == _groups.end() ? persisted{} : snapshot(gid, git->second);
    auto tombstone = [&](const cg_record& r) {  // the key only
      cg_record t = record_key(r.type, r.group_id, r.member_id);
      t.tombstone = true;
      out.push_back(std::move(t));
    };
    // Members that left: their assignment, target and metadata go.
    for (const auto& [id, r] : old.currents)
      if (!now.currents.count(id)) tombstone(r);
    for (const auto& [id, r] : old.targets)
      if (!now.targets.count(id)) tombstone(r);
    for (const auto& [id, r] : old.members)
      if (!now.members.count(id)) tombstone(r);
    auto changed = [&](const std::map<std::string, cg_record>& n, const std::map<std::string, cg_record>& o) {
      for (const auto& [id, r] : n) {
        auto it = o.find(id);
        if (it == o.end() || !(it->second == r)) out.push_back(r);
      }
    };
    auto one = [&](const std::optional<cg_record>& n, const std::optional<cg_record>& o) {
      if (n && (!o || !(*o == *n))) out.push_back(*n);
    };
    changed(now.members, old.members);
    one(now.metadata, old.metadata);
    one(now.partitions, old.partitions);
    changed(now.targets, old.targets);
    one(now.target_metadata, old.target_metadata);
    changed(now.currents, old.currents);
    if (git == _groups.end()) {  // deleted: the group's own records go last
      if (old.target_metadata) tombstone(*old.target_metadata);
      if (old.partitions) tombstone(*old.partitions);
      if (old.metadata) tombstone(*old.metadata);
    }
  }
  return out;
}

void consumer_group_coordinator::records_written() {
  for (const auto& gid : _dirty) {
    auto git = _groups.find(gid);
    if (git == _groups.end()) _persisted.erase(gid);
    else _persisted[gid] = snapshot(gid, git->second);
  }
  _dirty.clear();
}

void consumer_group_coordinator::replay(const cg_record& r) {
  using kind = cg_record::kind;
  if (r.type == kind::group_metadata && r.tombstone) {
    _groups.erase(r.group_id);
    return;
  }
  if (r.tombstone && r.type != kind::member_metadata && r.type != kind::target_member) return;
  group& g = _groups[r.group_id];
  switch (r.type) {
    case kind::group_metadata:
      g.epoch = r.epoch;
      break;
    case kind::partition_metadata:
      g.partition_counts = r.partition_counts;
      break;
    case kind::target_metadata:
      g.assignment_epoch = r.epoch;
      break;
    case kind::member_metadata: {
      if (r.tombstone) {
        g.members.erase(r.member_id);
        break;
      }
      member& m = g.members[r.member_id];
      m.id = r.member_id;
      m.instance_id = r.instance_id;
      m.client_id = r.client_id;
      m.client_host = r.client_host;
      m.topics = r.topics;
      std::sort(m.topics.begin(), m.topics.end());
      m.topics.erase(std::unique(m.topics.begin(), m.topics.end()), m.topics.end());
      m.regex = r.regex;
      if (m.regex && m.regex->empty()) m.regex.reset();
      m.rebalance_timeout_ms = r.rebalance_timeout_ms;
      m.server_assignor = r.server_assignor;
      break;
    }
    case kind::target_member:
      if (r.tombstone) g.target.erase(r.member_id);
      else g.target[r.member_id] = r.partitions;
      break;
    case kind::current_assignment: {
      member& m = g.members[r.member_id];
      m.id = r.member_id;
      m.epoch = r.epoch;
      m.previous_epoch = r.previous_epoch;
      m.current = r.partitions;
      m.pending_revocation = r.pending;
      break;
    }
  }
}

void consumer_group_coordinator::finish_replay() {
  const int64_t now = _clock.monotonic_ms();
  for (auto& [gid, g] : _groups) {
    for (auto it = g.target.begin(); it != g.target.end();)
      it = g.members.count(it->first) ? std::next(it) : g.target.erase(it);
    for (auto& [id, m] : g.members) {
      m.last_heartbeat_ms = now;
      m.sent_current = false;
      m.revoke_deadline_ms = -1;
      set_pending(m, now);
    }
    _persisted[gid] = snapshot(gid, g);
  }
  _dirty.clear();
}

// ---- queries ----
bool consumer_group_coordinator::has_group(const std::string& group_id) const {
  return _groups.count(group_id) > 0;
}

error_code consumer_group_coordinator::validate_commit(const std::string& group_id,
                                                       const std::string& member_id,
                                                       int32_t member_epoch) const {
  auto git = _groups.find(group_id);
  if (git == _groups.end()) return error_code::group_id_not_found;
  const group& g = git->second;
  if (member_id.empty() && member_epoch < 0)
    return g.members.empty() ? error_code::none : error_code::unknown_member_id;
  auto mit = g.members.find(member_id);
  if (mit == g.members.end()) return error_code::unknown_member_id;
  if (member_epoch != mit->second.epoch) return error_code::stale_member_epoch;
  return error_code::none;
}

error_code consumer_group_coordinator::validate_txn_commit(const std::string& group_id,
                                                           const std::string& member_id,
                                                           const std::optional<std::string>& instance_id,
                                                           int32_t member_epoch) const {
  auto git = _groups.find(group_id);
  if (git == _groups.end()) return member_epoch < 0 ? error_code::none : error_code::illegal_generation;
  const group& g = git->second;
  if (member_epoch < 0 && g.members.empty()) return error_code::none;
  if (member_epoch == -1 && member_id.empty() && !instance_id) return error_code::none;
  auto mit = g.members.find(member_id);
  if (mit == g.members.end()) return error_code::unknown_member_id;
  if (member_epoch != mit->second.epoch) return error_code::illegal_generation;
  return error_code::none;
}

std::string consumer_group_coordinator::state_of(const group& g) const {
  if (g.members.empty()) return "Empty";
  for (const auto& [id, m] : g.members) {
    if (m.epoch != g.assignment_epoch || !m.pending_revocation.empty()) return "Reconciling";
    auto it = g.target.find(id);
    if (it != g.target.end() && it->second != m.current) return "Reconciling";
  }
  return "Stable";
}

std::vector<std::pair<std::string, std::string>> consumer_group_coordinator::list() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [id, g] : _groups) out.emplace_back(id, state_of(g));
  return out;
}

std::optional<cg_description> consumer_group_coordinator::describe(const std::string& group_id) const {
  auto git = _groups.find(group_id);
  if (git == _groups.end()) return std::nullopt;
  const group& g = git->second;
  cg_description d;
  d.group_id = group_id;
  d.state = state_of(g);
  d.assignor = assignor_of(g);
  d.group_epoch = g.epoch;
  d.assignment_epoch = g.assignment_epoch;
  for (const auto& [id, m] : g.members) {
    cg_member_description md;
    md.member_id = id;
    md.instance_id = m.instance_id;
    md.member_epoch = m.epoch;
    md.client_id = m.client_id;
    md.client_host = m.client_host;
    md.subscribed_topics = m.topics;
    md.subscribed_regex = m.regex;
    md.assignment = m.current;
    if (auto it = g.target.find(id); it != g.target.end()) md.target = it->second;
    d.members.push_back(std::move(md));
  }
  return d;
}

error_code consumer_group_coordinator::delete_group(const std::string& group_id) {
  auto git = _groups.find(group_id);
  if (git == _groups.end()) return error_code::group_id_not_found;
  if (!git->second.members.empty()) return error_code::non_empty_group;
  _groups.erase(git);
  _dirty.insert(group_id);
  return error_code::none;
}

void consumer_group_coordinator::forget_group(const std::string& group_id) {
  _groups.erase(group_id);
  _persisted.erase(group_id);
  _dirty.erase(group_id);
}

bool consumer_group_coordinator::subscribed(const std::string& group_id, const std::string& topic) const {
  auto git = _groups.find(group_id);
  if (git == _groups.end()) return false;
  for (const auto& [id, m] : git->second.members)
    if (topics_of(m).count(topic)) return true;
  return false;
}

}  // namespace gregor::group
