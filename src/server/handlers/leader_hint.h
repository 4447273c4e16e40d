#pragma once
// KIP-951 leader discovery: a NOT_LEADER_OR_FOLLOWER (or FENCED_LEADER_EPOCH) answer to Produce
// (v10+) or Fetch (v12+) carries the partition's current leader and epoch from this broker's
// image, and the response's NodeEndpoints (Produce v10+, Fetch v16+) that leader's endpoint on the
// listener the request came in on, so the client re-routes without a Metadata round trip.
#include <algorithm>
#include <optional>
#include <string>

#include "../core.h"

namespace gregor::server {

struct leader_hint {
  int32_t id = -1;
  int32_t epoch = -1;
};

inline std::optional<leader_hint> current_leader(core& c, const std::string& topic, int32_t partition) {
  const auto* t = c.image().topic(topic);
  if (!t || partition < 0 || size_t(partition) >= t->partitions.size()) return std::nullopt;
  const auto& p = t->partitions[size_t(partition)];
  if (p.leader == no_node) return std::nullopt;
  return leader_hint{p.leader.value(), p.leader_epoch.value()};
}

// Adds broker `id`'s endpoint to `endpoints` (a NodeEndpoints list) once.
template <class Endpoints>
void add_node_endpoint(core& c, const std::string& listener, Endpoints& endpoints, int32_t id) {
  if (std::any_of(endpoints.begin(), endpoints.end(), [&](const auto& e) { return e.node_id == id; })) return;
  auto it = c.image().brokers().find(node_id(id));
  if (it == c.image().brokers().end()) return;
  const auto ep = c.endpoint_of(it->second, listener);
  auto& e = endpoints.emplace_back();
  e.node_id = id;
  e.host = ep.host;
  e.port = ep.port;
  e.rack = it->second.rack;
}

}  // namespace gregor::server
