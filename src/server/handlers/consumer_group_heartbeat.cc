// ConsumerGroupHeartbeat (key 68, KIP-848). v0: member epochs, server-side uniform and range
// assignors, incremental revocation (a partition moves only after its previous owner stopped
// reporting it). v1: subscribed topic regex (gregor::regex, RE2 syntax as Kafka's RE2/J, full match; a bad pattern gets
// INVALID_REGULAR_EXPRESSION; it resolves to the matching topics the principal may Describe). Assignments travel as topic ids; the coordinator works with names.
// The group's changed records are appended to __consumer_offsets before the answer is sent.
#include "gregor/protocol/messages/consumer_group_heartbeat.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::consumer_group_heartbeat_request;
using resp_t = protocol::consumer_group_heartbeat_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  // An error answers nothing else (Kafka's: null member id, epoch and interval 0, no assignment).
  auto fail = [&](error_code e, std::optional<std::string> msg) {
    resp = resp_t{};
    resp.error_code = code(e);
    resp.error_message = std::move(msg);
    return resp;
  };
  // Read on the group; subscribed topic names the principal may not Describe refuse the whole
  // heartbeat (Kafka: clients are not told about topics they may not see).
  if (!group_authorized(ctx, acl_op::read, req.group_id)) co_return fail(error_code::group_authorization_failed, std::nullopt);
  if (req.subscribed_topic_names)
    for (const auto& t : *req.subscribed_topic_names)
      if (!topic_authorized(ctx, acl_op::describe, t)) co_return fail(error_code::topic_authorization_failed, std::nullopt);
  group_service& groups = *co_await c.groups();
  resp.heartbeat_interval_ms = c.config().group_consumer_heartbeat_interval_ms;
  if (req.group_id.empty()) co_return fail(error_code::invalid_request, "GroupId can't be empty.");
  if (auto e = groups.check_coordinator(req.group_id); e != error_code::none) co_return fail(e, "");
  if (req.server_assignor && *req.server_assignor != "uniform" && *req.server_assignor != "range")
    co_return fail(error_code::unsupported_assignor, "Assignor " + *req.server_assignor + " is not supported.");
  if (groups.coordinator().state_of(req.group_id).value_or(group::group_state::empty) != group::group_state::empty)
    co_return fail(error_code::group_id_not_found, "Group " + req.group_id + " is a classic group.");
  group::cg_heartbeat_input in;
  in.group_id = req.group_id;
  in.member_id = req.member_id;
  in.member_epoch = req.member_epoch;
  in.instance_id = req.instance_id;
  in.client_id = ctx.header.client_id.value_or("");
  in.client_host = client_host_of(ctx.conn.peer);
  in.rebalance_timeout_ms = req.rebalance_timeout_ms;
  in.subscribed_topics = req.subscribed_topic_names;
  if (ctx.version() >= 1) in.subscribed_regex = req.subscribed_topic_regex;
  in.server_assignor = req.server_assignor;
  if (ctx.authz && ctx.authz->enabled() && ctx.session) {
    // A regex resolves only to topics this principal may Describe (Kafka's
    // filterTopicDescribeAuthorizedTopics; denials there are not logged).
    in.may_describe = [authz = ctx.authz, session = ctx.session](const std::string& topic) {
      return authz->allowed(*session, acl_op::describe, security::resource_type::topic, topic, /*log_denial=*/false);
    };
  }
  if (req.topic_partitions) {
    in.owned.emplace();
    for (const auto& t : *req.topic_partitions) {
      std::string name;
      if (!c.topic(t.topic_id, &name)) continue;
      for (int32_t p : t.partitions) in.owned->insert(topic_partition{name, partition_id{p}});
    }
  }
  auto out = groups.consumer_groups().heartbeat(std::move(in));
  resp.error_code = code(out.error);
  resp.member_id = out.member_id;
  resp.member_epoch = out.member_epoch;
  if (out.error == group::invalid_regular_expression)
    co_return fail(out.error, "SubscribedTopicRegex `" + req.subscribed_topic_regex.value_or("") +
                                 "` is not a valid regular expression.");
  if (out.error != error_code::none) co_return fail(out.error, std::nullopt);
  // A leave (member epoch -1, or -2 for a static member) is answered without an interval: there
  // is no next heartbeat (Kafka's response leaves the field at 0).
  if (req.member_epoch < 0) resp.heartbeat_interval_ms = 0;
  // Nobody hears about an epoch or assignment the log does not hold.
  if (auto e = groups.flush_consumer_groups(); e != error_code::none) co_return fail(e, "");
  if (const error_code committed = co_await groups.await_committed(req.group_id); committed != error_code::none)
    co_return fail(committed, "");
  if (out.assignment) {
    auto& a = resp.assignment.emplace();
    for (const auto& tp : *out.assignment) {
      const topic_runtime* rt = c.topic(tp.topic);
      if (!rt) continue;
      if (a.topic_partitions.empty() || a.topic_partitions.back().topic_id != rt->id)
        a.topic_partitions.emplace_back().topic_id = rt->id;
      a.topic_partitions.back().partitions.push_back(tp.partition.value());
    }
  }
  co_return resp;
}

}  // namespace

api_route consumer_group_heartbeat_route() {
  return make_route<req_t, resp_t, &handle, 0, 1>("ConsumerGroupHeartbeat");
}

}  // namespace gregor::server
