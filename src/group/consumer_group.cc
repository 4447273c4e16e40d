#include "gregor/group/consumer_group.h"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "gregor/base/log.h"

namespace gregor::group {
namespace {
spdlog::logger& lg() { return log::get("group"); }
using protocol::error_code;

std::string random_member_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}{:016x}", rng(), rng());
}
}  // namespace

consumer_group_coordinator::consumer_group_coordinator(clock& clk, int32_t session_timeout_ms,
                                                       topic_lookup topics)
    : _clock(clk), _session_timeout_ms(session_timeout_ms), _topics(std::move(topics)) {}

std::map<std::string, int32_t> consumer_group_coordinator::subscribed_counts(const group& g) const {
  std::map<std::string, int32_t> out;
  for (const auto& [id, m] : g.members)
    for (const auto& t : m.topics)
      if (!out.count(t)) out[t] = _topics(t);
  return out;
}

void consumer_group_coordinator::compute_target(group& g) {
  g.partition_counts = subscribed_counts(g);
  std::map<std::string, assignment_set> next;
  for (const auto& [id, m] : g.members) next[id];
  for (const auto& [topic, n] : g.partition_counts) {
    if (n <= 0) continue;
    std::vector<std::string> subs;
    for (const auto& [id, m] : g.members)
      if (std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end()) subs.push_back(id);
    if (subs.empty()) continue;
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
  g.target = std::move(next);
  g.assignment_epoch = g.epoch;
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
  if (!m.pending_revocation.empty()) return;  // the member revokes first, at its old epoch
  if (m.epoch != g.assignment_epoch) {
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
    }
    out.member_epoch = in.member_epoch;
    return out;
  }
  if (in.member_epoch == 0 && !in.subscribed_topics) {
    out.error = error_code::invalid_request;
    return out;
  }
  if (in.member_epoch > 0 && !_groups.count(in.group_id)) {
    out.error = error_code::unknown_member_id;
    return out;
  }
  group& g = _groups[in.group_id];
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
  if (in.subscribed_topics) {
    std::vector<std::string> topics = *in.subscribed_topics;
    std::sort(topics.begin(), topics.end());
    topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
    if (topics != m.topics) {
      m.topics = std::move(topics);
      bump = true;
    }
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
    for (const auto& [id, m] : g.members)
      if (m.last_heartbeat_ms + _session_timeout_ms <= now) expired.push_back(id);
    for (const auto& id : expired) {
      lg().info("consumer group {}: member {} session expired", gid, id);
      remove_member(g, id);
    }
  }
}

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
  return error_code::none;
}

bool consumer_group_coordinator::subscribed(const std::string& group_id, const std::string& topic) const {
  auto git = _groups.find(group_id);
  if (git == _groups.end()) return false;
  for (const auto& [id, m] : git->second.members)
    if (std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end()) return true;
  return false;
}

}  // namespace gregor::group
