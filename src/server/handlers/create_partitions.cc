// CreatePartitions (key 37). v1: no change. v2: flexible. v3: a topic over the controller mutation
// quota (KIP-599) answers THROTTLING_QUOTA_EXCEEDED (older versions are accepted and throttled).
#include "gregor/base/log.h"
#include "gregor/protocol/messages/create_partitions.h"
#include "client_quota.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::create_partitions_request;
using resp_t = protocol::create_partitions_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  std::map<std::string, int> seen;
  for (const auto& t : req.topics) seen[t.name]++;
  mutation_quota quota(c, ctx, 3);
  for (const auto& t : req.topics) {
    auto& out = resp.results.emplace_back();
    out.name = t.name;
    if (seen[t.name] > 1) {
      out.error_code = code(error_code::invalid_request);
      out.error_message = "duplicate topic in the request";
      continue;
    }
    if (!topic_authorized(ctx, acl_op::alter, t.name)) {  // before existence, as Kafka
      out.error_code = code(error_code::topic_authorization_failed);
      out.error_message = std::string(authorization_message(error_code::topic_authorization_failed));
      continue;
    }
    const auto* info = c.image().topic(t.name);
    if (!info) {
      out.error_code = code(error_code::unknown_topic_or_partition);
      out.error_message = fmt::format("The topic '{}' does not exist.", t.name);
      continue;
    }
    const int32_t current = int32_t(info->partitions.size());
    if (t.count < current) {
      out.error_code = code(error_code::invalid_partitions);
      out.error_message = fmt::format(
          "Topic currently has {} partitions, which is higher than the requested {}.", current,
          t.count);
      continue;
    }
    if (t.count == current) {
      out.error_code = code(error_code::invalid_partitions);
      out.error_message = fmt::format("Topic already has {} partitions.", current);
      continue;
    }
    if (t.assignments && int32_t(t.assignments->size()) != t.count - current) {
      out.error_code = code(error_code::invalid_replica_assignment);
      out.error_message = fmt::format("Increasing the number of partitions by {} but {} assignments provided.",
                                      t.count - current, t.assignments->size());
      continue;
    }
    std::vector<std::vector<node_id>> assignments;
    if (t.assignments) {
      for (const auto& a : *t.assignments) {
        auto& replicas = assignments.emplace_back();
        for (int32_t b : a.broker_ids) replicas.push_back(node_id{b});
      }
    }
    if (!quota.take(t.count - current)) {
      out.error_code = code(error_code::throttling_quota_exceeded);  // no message, as Kafka (ApiError)
      continue;
    }
    auto r = co_await controller_for(c, ctx).create_partitions(t.name, t.count, std::move(assignments), req.validate_only,
                                                        quota.requester());
    if (!r) {
      quota.give_back(t.count - current);
      out.error_code = code(r.error().code);
      if (r.error().code != error_code::throttling_quota_exceeded) out.error_message = r.error().message;
      continue;
    }
    out.error_code = 0;
    if (!req.validate_only) {
      log::get("server").info("topic {} now has {} partitions", t.name, t.count);
    }
  }
  resp.throttle_time_ms = quota.finish();
  co_return resp;
}

}  // namespace

api_route create_partitions_route() {
  return make_route<req_t, resp_t, &handle, 0, 3>("CreatePartitions");
}

}  // namespace gregor::server
