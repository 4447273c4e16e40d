#pragma once
// create_internal_topic: how the coordinators create their compacted internal topic
// (__consumer_offsets for group_service, __transaction_state for txn_service) on first use. A
// cluster creates it with the configured replication factor or not at all (Kafka refuses rather
// than silently weakening it: FindCoordinator answers COORDINATOR_NOT_AVAILABLE until enough
// brokers are up); a single node, which can never have more, uses 1, and caps a
// min.insync.replicas in `configs` at it. TOPIC_ALREADY_EXISTS (another broker won) is fine;
// other failures are logged and the caller finds the topic still missing.
#include <algorithm>
#include <map>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "gregor/base/log.h"
#include "core.h"

namespace gregor::server {

inline boost::asio::awaitable<void> create_internal_topic(core& c, std::string name, int32_t partitions,
                                                          int16_t replication_factor,
                                                          std::map<std::string, std::string> configs,
                                                          spdlog::logger& lg) {
  const int16_t rf = c.quorum() ? std::max<int16_t>(replication_factor, 1) : int16_t(1);
  if (auto it = configs.find("min.insync.replicas"); it != configs.end())
    it->second = std::to_string(std::clamp<int32_t>(std::stoi(it->second), 1, rf));
  configs.emplace("cleanup.policy", "compact");
  topic_spec spec;
  spec.name = name;
  spec.partitions = std::max(partitions, 1);
  spec.replication_factor = rf;
  spec.configs = std::move(configs);
  auto r = co_await c.controller().create_topic(std::move(spec), false);
  if (!r && r.error().code != protocol::error_code::topic_already_exists)
    lg.error("cannot create {}: {}", name, r.error().message);
  else if (r)
    lg.info("created {} with {} partitions, replication factor {}", name, std::max(partitions, 1), rf);
}

}  // namespace gregor::server
