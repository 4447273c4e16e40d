// CreateTopics (key 19). v1: validate_only, error messages. v2: throttle time. v4: default
// partitions and replication factor (-1). v5: flexible, the created topic's configs, partition
// count and replication factor in the answer. v6: a topic over the controller mutation quota
// (KIP-599) answers THROTTLING_QUOTA_EXCEEDED (older versions are accepted and throttled).
// v7: topic id.
#include <set>

#include "gregor/base/log.h"
#include "gregor/controller/request_limits.h"
#include "gregor/protocol/messages/create_topics.h"
#include "client_quota.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::create_topics_request;
using resp_t = protocol::create_topics_response;
using protocol::error_code;

template <class Out>
void fail(Out& out, error_code e, std::string message) {
  out.error_code = code(e);
  out.error_message = std::move(message);
  out.configs.emplace();  // v5+: a failed topic carries the schema's default, an empty array (as Kafka)
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  const int16_t v = ctx.version();
  std::map<std::string, int> seen;
  for (const auto& t : req.topics) seen[t.name]++;
  // Kafka refuses the whole request, every topic with the same error, when all its topics together
  // ask for more than partitions_per_request_max partitions: before any topic is looked at.
  int64_t total = 0;
  for (const auto& t : req.topics)
    total += controller::requested_partitions(t.num_partitions, t.assignments.size(), c.config().num_partitions);
  if (controller::excessive_partitions_per_request(total)) {
    for (const auto& t : req.topics) {
      auto& out = resp.topics.emplace_back();
      out.name = t.name;
      fail(out, error_code::policy_violation, std::string(controller::excessive_partitions_message));
    }
    log::get("server").info("refused CreateTopics of {} topics asking for {} partitions (at most {} per request)",
                            req.topics.size(), total, controller::partitions_per_request_max);
    co_return resp;
  }

  mutation_quota quota(c, ctx, 6);
  for (const auto& t : req.topics) {
    auto& out = resp.topics.emplace_back();
    out.name = t.name;
    if (seen[t.name] > 1) {
      fail(out, error_code::invalid_request, fmt::format("topic '{}' appears more than once in the request", t.name));
      continue;
    }
    if (!cluster_authorized(ctx, security::acl_operation::create) &&
        !authorized(ctx, security::acl_operation::create, security::resource_type::topic, t.name)) {
      fail(out, error_code::topic_authorization_failed, "Authorization failed.");
      continue;
    }
    topic_spec spec;
    spec.name = t.name;
    int32_t partitions = t.num_partitions;
    int16_t replication = t.replication_factor;
    if (!t.assignments.empty()) {
      if (partitions != -1 || replication != -1) {
        fail(out, error_code::invalid_request,
             "both replica assignments and num_partitions/replication_factor were given");
        continue;
      }
      // Manual assignment: partition indexes 0..n-1; the controller checks the brokers.
      partitions = int32_t(t.assignments.size());
      replication = int16_t(t.assignments.front().broker_ids.size());
      bool in_order = true;
      for (size_t i = 0; i < t.assignments.size(); ++i) {
        in_order = in_order && t.assignments[i].partition_index == int32_t(i);
        auto& replicas = spec.assignments.emplace_back();
        for (int32_t b : t.assignments[i].broker_ids) replicas.push_back(node_id{b});
      }
      if (!in_order) {
        fail(out, error_code::invalid_replica_assignment, "partition indexes must be 0..n-1");
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
    spec.partitions = partitions;
    spec.replication_factor = replication;
    spec.configs = configs;
    // The quota counts topics the controller would create: an existing one fails there first.
    const int32_t permits = c.image().topic(t.name) ? 0 : partitions;
    if (!quota.take(permits)) {
      out.error_code = code(error_code::throttling_quota_exceeded);  // no message, as Kafka (ApiError)
      continue;
    }
    auto created = co_await controller_for(c, ctx).create_topic(std::move(spec), req.validate_only, quota.requester());
    if (!created) {
      quota.give_back(permits);
      if (created.error().code == error_code::throttling_quota_exceeded) {  // by the controller
        out.error_code = code(error_code::throttling_quota_exceeded);
        continue;
      }
      fail(out, created.error().code, created.error().message);
      continue;
    }
    out.error_code = 0;
    out.topic_id = created->id;
    out.num_partitions = created->partitions;
    out.replication_factor = created->replication_factor;
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
  resp.throttle_time_ms = quota.finish();
  co_return resp;
}

}  // namespace

api_route create_topics_route() { return make_route<req_t, resp_t, &handle, 2, 7>("CreateTopics"); }

}  // namespace gregor::server
