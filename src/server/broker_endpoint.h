#pragma once
// point_pool_at: points an inter-broker node pool (a follower's fetchers in replica_manager, the
// transaction coordinator's marker and verification calls in txn_service) at `broker`'s endpoint
// on `listener` as the metadata image has it. False when the broker or that listener is unknown.
#include <string>

#include "gregor/rpc/node_pool.h"
#include "core.h"

namespace gregor::server {

inline bool point_pool_at(rpc::node_pool& pool, const core& c, node_id broker, const std::string& listener) {
  const auto& brokers = c.image().brokers();
  auto it = brokers.find(broker);
  if (it == brokers.end()) return false;
  const auto ep = c.endpoint_of(it->second, listener);
  if (ep.host.empty() || ep.port <= 0) return false;
  rpc::endpoint want{ep.host, uint16_t(ep.port)};
  if (pool.endpoint_of(broker) != want) pool.set_endpoint(broker, want);
  return true;
}

}  // namespace gregor::server
