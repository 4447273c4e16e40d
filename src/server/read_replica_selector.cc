#include "read_replica_selector.h"

namespace gregor::server {

std::optional<node_id> most_caught_up_replica(std::span<const read_replica_candidate> candidates) {
  const read_replica_candidate* best = nullptr;
  for (const auto& c : candidates) {
    if (!best || c.end > best->end ||
        (c.end == best->end && (c.last_caught_up_ms > best->last_caught_up_ms ||
                                (c.last_caught_up_ms == best->last_caught_up_ms && c.id < best->id))))
      best = &c;
  }
  if (!best) return std::nullopt;
  return best->id;
}

}  // namespace gregor::server
