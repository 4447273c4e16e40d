// DeleteTopics (key 20). v1: throttle time. v4: flexible. v5: error message; a topic over the
// controller mutation quota (KIP-599) answers THROTTLING_QUOTA_EXCEEDED (older versions are
// accepted and throttled). v6: topics by name or
// id (topic_names is replaced by topics).
#include "gregor/base/log.h"
#include "gregor/protocol/messages/delete_topics.h"
#include "client_quota.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::delete_topics_request;
using resp_t = protocol::delete_topics_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  struct target {
    std::optional<std::string> name;
    uuid id;
  };
  std::vector<target> targets;
  if (ctx.version() < 6) {
    for (const auto& n : req.topic_names) targets.push_back({n, uuid{}});
  } else {
    for (const auto& t : req.topics) targets.push_back({t.name, t.topic_id});
  }
  mutation_quota quota(c, ctx, 5);
  for (const auto& t : targets) {
    auto& out = resp.responses.emplace_back();
    out.name = t.name;
    out.topic_id = t.id;
    const controller::topic_info* info = nullptr;
    if (t.name && !t.name->empty()) info = c.image().topic(*t.name);
    else if (!t.id.is_zero()) info = c.image().topic(t.id);
    const bool by_name = t.name && !t.name->empty();
    if ((by_name || info) &&
        !authorized(ctx, security::acl_operation::del, security::resource_type::topic, by_name ? *t.name : info->name)) {
      out.error_code = code(error_code::topic_authorization_failed);
      continue;
    }
    if (!info) {
      out.error_code = code(t.name && !t.name->empty() ? error_code::unknown_topic_or_partition
                                                       : error_code::unknown_topic_id);
      continue;
    }
    if (!c.config().delete_topic_enable) {
      out.error_code = code(error_code::topic_deletion_disabled);
      out.error_message = "topic deletion is disabled (delete.topic.enable=false)";
      continue;
    }
    std::string name = info->name;
    out.name = name;
    out.topic_id = info->id;
    const int32_t permits = int32_t(info->partitions.size());
    if (!quota.take(permits)) {
      out.error_code = code(error_code::throttling_quota_exceeded);  // no message, as Kafka (ApiError)
      continue;
    }
    auto r = co_await controller_for(c, ctx).delete_topic(name, quota.requester());
    if (!r) {
      quota.give_back(permits);
      out.error_code = code(r.error().code);
      if (r.error().code != error_code::throttling_quota_exceeded) out.error_message = r.error().message;
      continue;
    }
    out.error_code = 0;
    log::get("server").info("deleted topic {}", name);
  }
  resp.throttle_time_ms = quota.finish();
  co_return resp;
}

}  // namespace

api_route delete_topics_route() { return make_route<req_t, resp_t, &handle, 1, 6>("DeleteTopics"); }

}  // namespace gregor::server
