// CreateTopics (key 19). v1: validate_only, error messages. v2: throttle time. v4: default
// partitions and replication factor (-1). v5: flexible, the created topic's configs, partition
// count and replication factor in the answer. v6: no change. v7: topic id.
#include <set>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/create_topics.h"
#include "handlers.h"
#include "topic_errors.h"

namespace gregor::server {
namespace {
using req_t = protocol::create_topics_request;
using resp_t = protocol::create_topics_response;
using protocol::error_code;

template <class Out>
void fail(Out& out, error_code e, std::string message) {
  out.error_code = code(e);
  out.error_message = std::move(message);
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  const int16_t v = ctx.version();
  std::map<std::string, int> seen;
  for (const auto& t : req.topics) seen[t.name]++;
  bool changed = false;

  for (const auto& t : req.topics) {
    auto& out = resp.topics.emplace_back();
    out.name = t.name;
    if (seen[t.name] > 1) {
      fail(out, error_code::invalid_request, fmt::format("topic '{}' appears more than once in the request", t.name));
      continue;
    }
    int32_t partitions = t.num_partitions;
    int16_t replication = t.replication_factor;
    if (!t.assignments.empty()) {
      if (partitions != -1 || replication != -1) {
        fail(out, error_code::invalid_request,
             "both replica assignments and num_partitions/replication_factor were given");
        continue;
      }
      // Manual assignment: every listed broker must exist, and every partition has the same count.
      partitions = int32_t(t.assignments.size());
      replication = int16_t(t.assignments.front().broker_ids.size());
      std::string bad;
      for (size_t i = 0; i < t.assignments.size() && bad.empty(); ++i) {
        const auto& a = t.assignments[i];
        if (a.partition_index != int32_t(i)) bad = "partition indexes must be 0..n-1";
        else if (a.broker_ids.size() != size_t(replication)) bad = "every partition needs the same replica count";
        std::set<int32_t> uniq(a.broker_ids.begin(), a.broker_ids.end());
        if (bad.empty() && uniq.size() != a.broker_ids.size()) bad = "duplicate broker in a replica list";
        for (int32_t b : a.broker_ids)
          if (bad.empty() && !c.image().brokers().contains(node_id{b}))
            bad = fmt::format("broker {} is not registered", b);
      }
      if (!bad.empty()) {
        fail(out, error_code::invalid_replica_assignment, bad);
        continue;
      }
    }
    if (partitions == -1) partitions = c.config().num_partitions;
    if (replication == -1) replication = c.config().default_replication_factor;
    if (partitions <= 0) {
      fail(out, error_code::invalid_partitions, "Number of partitions must be larger than 0.");
      continue;
    }
    if (replication <= 0) {
      fail(out, error_code::invalid_replication_factor, "Replication factor must be larger than 0.");
      continue;
    }
    std::map<std::string, std::string> configs;
    std::string bad_config;
    for (const auto& cfg : t.configs) {
      if (!cfg.value.has_value()) continue;
      std::string why = config::validate_topic_config(cfg.name, *cfg.value);
      if (!why.empty()) {
        bad_config = why;
        break;
      }
      configs[cfg.name] = *cfg.value;
    }
    if (!bad_config.empty()) {
      fail(out, error_code::invalid_config, bad_config);
      continue;
    }
    auto created = c.metadata().create_topic(t.name, partitions, replication, configs, req.validate_only);
    if (!created) {
      fail(out, to_kafka(created.error().code), created.error().message);
      continue;
    }
    if (!req.validate_only) changed = true;
    out.error_code = 0;
    out.topic_id = req.validate_only ? uuid{} : (*created)->id;
    out.num_partitions = partitions;
    out.replication_factor = replication;
    if (v >= 5) {
      out.configs.emplace();
      for (const auto& d : config::describe_topic_configs(configs, c.config())) {
        auto& co = out.configs->emplace_back();
        co.name = d.name;
        co.value = d.is_null ? std::nullopt : std::optional<std::string>(d.value);
        co.read_only = d.read_only;
        co.config_source = d.source;
        co.is_sensitive = d.sensitive;
      }
    }
    if (!req.validate_only)
      log::get("server").info("created topic {} ({} partitions, replication factor {})", t.name,
                              partitions, replication);
  }
  if (changed) c.apply_metadata();
  co_return resp;
}

}  // namespace

api_route create_topics_route() { return make_route<req_t, resp_t, &handle, 2, 7>("CreateTopics"); }

}  // namespace gregor::server
