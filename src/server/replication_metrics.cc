#include "replication_metrics.h"

#include <algorithm>

#include "active_controller.h"
#include "core.h"

namespace gregor::server {
namespace {

constexpr const char* isr_shrinks_name = "gregor_isr_shrinks_total";
constexpr const char* isr_shrinks_help = "ISR shrinks of partitions this broker leads, as committed.";
constexpr const char* isr_expands_name = "gregor_isr_expands_total";
constexpr const char* isr_expands_help = "ISR expansions of partitions this broker leads, as committed.";

bool contains(const std::vector<node_id>& v, node_id n) { return std::find(v.begin(), v.end(), n) != v.end(); }

}  // namespace

partition_health partition_health_of(const std::map<std::string, controller::topic_info>& topics, node_id self,
                                     const std::function<int32_t(const std::string&)>& min_isr) {
  partition_health h;
  for (const auto& [name, t] : topics) {
    for (const auto& p : t.partitions) {
      if (p.leader == no_node) {
        ++h.offline;
        continue;
      }
      if (p.leader != self) continue;
      if (p.isr.size() < p.replicas.size()) ++h.under_replicated;
      const auto effective_min_isr = std::min<size_t>(size_t(std::max(min_isr(name), 1)), p.replicas.size());
      if (p.isr.size() < effective_min_isr) ++h.under_min_isr;
    }
  }
  return h;
}

isr_change isr_change_of(const replication::replica_set& before, const replication::replica_set& after,
                         node_id self) {
  isr_change c;
  if (before.leader != self || after.leader != self || before.epoch != after.epoch) return c;
  for (node_id n : before.isr)
    if (!contains(after.isr, n)) c.shrinks = 1;
  for (node_id n : after.isr)
    if (!contains(before.isr, n)) c.expands = 1;
  return c;
}

std::optional<int64_t> follower_lag(const replication::partition& p) {
  if (p.is_leader() || p.leader_high_watermark() < offset(0)) return std::nullopt;
  return std::max<int64_t>(0, p.leader_high_watermark().value() - p.log().log_end_offset().value());
}

void record_isr_change(const replication::replica_set& before, const replication::replica_set& after, node_id self) {
  const auto c = isr_change_of(before, after, self);
  auto& reg = metrics::registry::global();
  if (c.shrinks) reg.counter(isr_shrinks_name, isr_shrinks_help).inc(double(c.shrinks));
  if (c.expands) reg.counter(isr_expands_name, isr_expands_help).inc(double(c.expands));
}

metrics::collector replication_collector(core& c) {
  auto& reg = metrics::registry::global();
  reg.counter(isr_shrinks_name, isr_shrinks_help);
  reg.counter(isr_expands_name, isr_expands_help);
  return [&c](metrics::sample_writer& w) {
    const auto h = partition_health_of(c.image().topics(), c.self(), [&c](const std::string& topic) {
      const topic_runtime* rt = c.topic(topic);
      return rt ? rt->settings.min_insync_replicas : c.config().min_insync_replicas;
    });
    w.gauge("gregor_under_replicated_partitions",
            "Partitions this broker leads whose ISR is smaller than their replica set.", {},
            double(h.under_replicated));
    w.gauge("gregor_under_min_isr_partitions",
            "Partitions this broker leads whose ISR is below min(min.insync.replicas, replication factor).", {},
            double(h.under_min_isr));
    // Kafka reports offline partitions on the active controller only; a single node is its own.
    const active_controller* ac = c.active_controller_if_any();
    if (c.quorum() == nullptr || (ac && ac->active()))
      w.gauge("gregor_offline_partitions", "Partitions without a leader (reported by the active controller).",
              {}, double(h.offline));
    c.partitions().for_each([&w](replication::partition& p) {
      const auto lag = follower_lag(p);
      if (!lag) return;
      w.gauge("gregor_replica_lag_messages",
              "Follower: the leader's high watermark minus this replica's log end offset, per partition.",
              {{"topic", p.tp().topic}, {"partition", std::to_string(p.tp().partition.value())}}, double(*lag));
    });
  };
}

}  // namespace gregor::server
