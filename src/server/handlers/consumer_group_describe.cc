// ConsumerGroupDescribe (key 69, KIP-848). v1: member type (1 = consumer protocol member).
// Unknown groups and classic groups answer GROUP_ID_NOT_FOUND, as Kafka does.
#include <algorithm>
#include <set>

#include "gregor/protocol/messages/consumer_group_describe.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::consumer_group_describe_request;
using resp_t = protocol::consumer_group_describe_response;
using protocol::error_code;

resp_t::assignment to_assignment(core& c, const group::assignment_set& set) {
  resp_t::assignment a;
  for (const auto& tp : set) {
    const topic_runtime* rt = c.topic(tp.topic);
    if (!rt) continue;
    if (a.topic_partitions.empty() || a.topic_partitions.back().topic_name != tp.topic) {
      auto& t = a.topic_partitions.emplace_back();
      t.topic_id = rt->id;
      t.topic_name = tp.topic;
    }
    a.topic_partitions.back().partitions.push_back(tp.partition.value());
  }
  return a;
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  group_service& groups = *co_await c.groups();
  for (const auto& id : req.group_ids) {
    auto& out = resp.groups.emplace_back();
    out.group_id = id;
    if (!group_authorized(ctx, acl_op::describe, id)) {
      out.error_code = code(error_code::group_authorization_failed);
      continue;
    }
    if (auto e = groups.check_coordinator(id); e != error_code::none) {
      out.error_code = code(e);
      continue;
    }
    auto d = groups.consumer_groups().describe(id);
    if (!d) {
      out.error_code = code(error_code::group_id_not_found);
      out.error_message = "Group " + id + " not found.";
      continue;
    }
    // A group whose members subscribe to or are assigned a topic the principal may not Describe
    // is refused whole (Kafka: clients are not told about topics they may not see).
    std::set<std::string> topics;  // each asked once
    for (const auto& m : d->members) {
      topics.insert(m.subscribed_topics.begin(), m.subscribed_topics.end());
      for (const auto* set : {&m.assignment, &m.target})
        for (const auto& tp : *set) topics.insert(tp.topic);
    }
    const bool hidden_topic = std::any_of(topics.begin(), topics.end(), [&ctx](const std::string& t) {
      return !topic_authorized(ctx, acl_op::describe, t);
    });
    if (hidden_topic) {
      out.error_code = code(error_code::topic_authorization_failed);
      out.error_message = "The group has described topic(s) that the client is not authorized to describe.";
      continue;
    }
    if (req.include_authorized_operations)
      out.authorized_operations = authorized_operations(ctx, security::resource_type::group, id);
    out.group_state = d->state;
    out.group_epoch = d->group_epoch;
    out.assignment_epoch = d->assignment_epoch;
    out.assignor_name = d->assignor;
    for (auto& m : d->members) {
      auto& mo = out.members.emplace_back();
      mo.member_id = m.member_id;
      mo.instance_id = m.instance_id;
      mo.member_epoch = m.member_epoch;
      mo.client_id = m.client_id;
      mo.client_host = m.client_host;
      mo.subscribed_topic_names = m.subscribed_topics;
      mo.subscribed_topic_regex = m.subscribed_regex.value_or("");  // Kafka: "" without a regex
      mo.assignment = to_assignment(c, m.assignment);
      mo.target_assignment = to_assignment(c, m.target);
      mo.member_type = 1;
    }
  }
  co_return resp;
}

}  // namespace

api_route consumer_group_describe_route() {
  return make_route<req_t, resp_t, &handle, 0, 1>("ConsumerGroupDescribe");
}

}  // namespace gregor::server
