// Shared pieces of the simulations: see sim_support.h.
#include "sim_support.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

namespace gregor::raft::sim {

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

offset disk_log_end(const persisted_state& d) {
  if (!d.log.empty()) return d.log.back().end();
  return d.snapshot ? d.snapshot->end_offset : offset{0};
}

std::string persist(persisted_state& disk, const output& out) {
  if (out.quorum) disk.quorum = *out.quorum;
  for (auto& op : out.log_ops) {
    if (auto* t = std::get_if<truncate_log>(&op)) {
      while (!disk.log.empty() && disk.log.back().base >= t->end) disk.log.pop_back();
      if (disk_log_end(disk) > t->end) return fmt::format("truncation to {} splits an entry", t->end);
    } else if (auto* a = std::get_if<append_log>(&op)) {
      for (auto& e : a->entries) {
        if (e.base != disk_log_end(disk))
          return fmt::format("append of {} at disk log end {}", e.base, disk_log_end(disk));
        disk.log.push_back(e);
      }
    } else if (auto* s = std::get_if<install_snapshot>(&op)) {
      disk.snapshot = s->id;
      disk.snapshot_bytes = s->data;
      disk.log.clear();
    } else if (auto* d = std::get_if<delete_log_prefix>(&op)) {
      auto keep = std::find_if(disk.log.begin(), disk.log.end(),
                               [&](const entry& e) { return e.end() > d->log_start; });
      disk.log.erase(disk.log.begin(), keep);
    }
  }
  return "";
}

persisted_state restore(const persisted_state& disk) {
  persisted_state restored = disk;
  if (restored.snapshot) {
    auto& log = restored.log;
    auto keep = std::find_if(log.begin(), log.end(), [&](const entry& e) {
      return e.end() > restored.snapshot->end_offset;
    });
    log.erase(log.begin(), keep);
  }
  return restored;
}

uint64_t entry_identity(const entry& e) {
  uint64_t h = mix(uint64_t(e.kind) + 1);
  h = mix(h ^ (uint64_t(uint32_t(e.epoch.value())) << 32 | uint64_t(uint32_t(e.record_count))));
  if (e.kind == entry_kind::leader_change) h = mix(h ^ uint64_t(uint32_t(e.leader_change.leader.value())));
  for (auto& v : e.voters) h = mix(h ^ uint64_t(uint32_t(v.id.value())));
  // Eight bytes at a time, then the tail.
  const auto& p = e.payload;
  size_t i = 0;
  for (; i + 8 <= p.size(); i += 8) {
    uint64_t w = 0;
    for (size_t k = 0; k < 8; ++k) w |= uint64_t(p[i + k]) << (8 * k);
    h = mix(h ^ w);
  }
  uint64_t tail = p.size();
  for (; i < p.size(); ++i) tail = (tail << 8) | p[i];
  return mix(h ^ tail);
}

std::string raft_checker::check_leader(node_id id, const replica& r) {
  if (r.current_role() != role::leader) return "";
  int32_t epoch = r.epoch().value();
  auto [it, fresh] = _epoch_leaders.emplace(epoch, id.value());
  if (!fresh && it->second != id.value())
    return fmt::format("election safety: epoch {} has leaders {} and {}", epoch, it->second, id);
  if (!fresh) return "";
  ++_elections;
  if (!r.is_voter()) return fmt::format("node {} leads epoch {} without being a voter", id, epoch);
  const auto& log = r.log();
  for (auto c = _committed.lower_bound(r.log_start_offset().value()); c != _committed.end(); ++c) {
    if (auto ce = _commit_epoch.find(c->first); ce != _commit_epoch.end() && ce->second >= epoch) continue;
    auto e = std::lower_bound(log.begin(), log.end(), offset{c->first},
                              [](const entry& x, offset o) { return x.base < o; });
    if (e == log.end() || e->base.value() != c->first || entry_identity(*e) != c->second)
      return fmt::format("leader completeness: leader {} of epoch {} lacks committed offset {}", id, epoch,
                         c->first);
  }
  return "";
}

std::string raft_checker::record_committed(node_id id, const replica& r) {
  per_node& n = _nodes[id.value()];
  offset hw = r.high_watermark();
  if (hw < n.hw_seen) return fmt::format("node {} high watermark went back {} -> {}", id, n.hw_seen, hw);
  n.hw_seen = hw;
  if (hw > r.log_end_offset()) return fmt::format("node {} high watermark {} past its log end", id, hw);
  const auto& log = r.log();
  offset from = std::max(n.committed_recorded, r.log_start_offset());
  auto it = std::lower_bound(log.begin(), log.end(), from, [](const entry& e, offset o) { return e.base < o; });
  for (; it != log.end() && it->end() <= hw; ++it) {
    uint64_t ident = entry_identity(*it);
    auto [c, fresh] = _committed.emplace(it->base.value(), ident);
    if (!fresh && c->second != ident)
      return fmt::format("node {} commits a different entry at {} than another node", id, it->base);
    note_commit_epoch(it->base.value(), r.epoch());
  }
  n.committed_recorded = std::max(n.committed_recorded, hw);
  return "";
}

void raft_checker::note_commit_epoch(int64_t base, leader_epoch epoch) {
  auto [it, fresh] = _commit_epoch.emplace(base, epoch.value());
  if (!fresh) it->second = std::min(it->second, epoch.value());
}

std::string raft_checker::record_applied(node_id id, const entry& e, leader_epoch epoch) {
  note_commit_epoch(e.base.value(), epoch);
  uint64_t ident = entry_identity(e);
  auto [it, fresh] = _committed.emplace(e.base.value(), ident);
  if (!fresh && it->second != ident)
    return fmt::format("state machine safety: node {} applies a different entry at {}", id, e.base);
  return "";
}

void raft_checker::restarted(node_id id, const replica& r) {
  per_node& n = _nodes[id.value()];
  n.hw_seen = r.high_watermark();
  n.committed_recorded = r.log_start_offset();
}

std::string raft_checker::check_logs(const std::vector<std::pair<node_id, const replica*>>& up) const {
  for (size_t a = 0; a < up.size(); ++a) {
    const auto& la = up[a].second->log();
    std::unordered_map<int64_t, const entry*> by_base;
    for (auto& e : la) by_base.emplace(e.base.value(), &e);
    for (size_t b = a + 1; b < up.size(); ++b) {
      const auto& lb = up[b].second->log();
      bool matched = false;
      for (auto it = lb.rbegin(); it != lb.rend(); ++it) {
        auto f = by_base.find(it->base.value());
        if (!matched) {
          if (f != by_base.end() && f->second->epoch == it->epoch) matched = true;
          else continue;
        }
        if (f == by_base.end()) break;  // below a's log start
        if (entry_identity(*f->second) != entry_identity(*it))
          return fmt::format("log matching: nodes {} and {} differ at {} below a common entry", up[a].first,
                             up[b].first, it->base);
      }
    }
  }
  return "";
}

std::string raft_checker::check_committed_kept(node_id id, const replica& r) const {
  for (auto& [base, ident] : _committed) {
    if (base < r.log_start_offset().value()) continue;
    if (base >= r.high_watermark().value()) break;
    const auto& log = r.log();
    auto e = std::lower_bound(log.begin(), log.end(), offset{base},
                              [](const entry& x, offset o) { return x.base < o; });
    if (e == log.end() || e->base.value() != base || entry_identity(*e) != ident)
      return fmt::format("node {} lost or changed committed offset {}", id, base);
  }
  return "";
}

}  // namespace gregor::raft::sim
