// Metadata (key 3). v1: null topics = all topics (v0: empty list = all), controller id, rack,
// is_internal. v2: cluster id. v3: throttle time. v4: allow_auto_topic_creation. v5: offline
// replicas. v7: leader epoch. v8: authorized operations. v9: flexible. v10: topic ids, topics by id.
// v11: cluster authorized operations removed. v12: topic name nullable in responses. v13: top-level
// error code.
#include "gregor/base/log.h"
#include "gregor/controller/request_limits.h"
#include "gregor/protocol/messages/metadata.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::metadata_request;
using resp_t = protocol::metadata_response;
using protocol::error_code;

template <class TopicOut>
void fill_topic(core& c, const controller::topic_info& t, TopicOut& out) {
  out.error_code = 0;
  out.name = t.name;
  out.topic_id = t.id;
  out.is_internal = t.internal;
  for (const auto& p : t.partitions) {
    auto& po = out.partitions.emplace_back();
    po.error_code = 0;
    po.partition_index = p.id.value();
    po.leader_id = p.leader.value();
    po.leader_epoch = p.leader_epoch.value();
    for (auto r : p.replicas) po.replica_nodes.push_back(r.value());
    for (auto r : p.isr) po.isr_nodes.push_back(r.value());
  }
}

// v8+: the operations the principal may perform on each topic answered without error, and (v8-10)
// on the cluster (0 without Describe on it), when the request asks for them (Kafka's defaults,
// INT32_MIN, otherwise).
resp_t with_authorized_operations(core&, request_context& ctx, const req_t& req, resp_t resp) {
  if (ctx.version() < 8) return resp;
  if (req.include_topic_authorized_operations)
    for (auto& t : resp.topics)
      if (t.error_code == 0 && t.name)
        t.topic_authorized_operations = authorized_operations(ctx, security::resource_type::topic, *t.name);
  if (ctx.version() <= 10 && req.include_cluster_authorized_operations)
    resp.cluster_authorized_operations =
        cluster_authorized(ctx, acl_op::describe)
            ? authorized_operations(ctx, security::resource_type::cluster, security::cluster_resource_name)
            : 0;
  return resp;
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  const int16_t v = ctx.version();
  for (const auto& [id, b] : c.image().brokers()) {
    if (b.fenced) continue;  // only live brokers, as Kafka lists them
    auto& out = resp.brokers.emplace_back();
    out.node_id = id.value();
    auto endpoint = c.endpoint_of(b, ctx.conn.listener_name);
    out.host = endpoint.host;
    out.port = endpoint.port;
    out.rack = b.rack;
  }
  resp.cluster_id = c.image().cluster_id();
  resp.controller_id = c.client_controller_id().value();

  const bool all_topics = !req.topics.has_value() || (v == 0 && req.topics->empty());
  if (all_topics) {
    // Only the topics the principal may describe, as Kafka lists them.
    for (const auto& [name, t] : c.image().topics())
      if (authorized(ctx, security::acl_operation::describe, security::resource_type::topic, name))
        fill_topic(c, t, resp.topics.emplace_back());
    co_return with_authorized_operations(c, ctx, req, std::move(resp));
  }
  bool may_create = c.config().auto_create_topics_enable && (v < 4 || req.allow_auto_topic_creation);
  // Kafka sends the topics one Metadata request auto-creates to its controller as one CreateTopics
  // request, which the controller refuses whole above partitions_per_request_max partitions: then
  // none is created (Kafka 4.3 logs "Auto topic creation failed ... POLICY_VIOLATION" for each) and
  // each is answered UNKNOWN_TOPIC_OR_PARTITION, as Kafka answers topics it is auto-creating: a
  // flood of made-up names creates nothing.
  bool refuse_auto_create = false;
  if (may_create) {
    int64_t to_create = 0;
    for (const auto& want : *req.topics)
      if (want.name.has_value() && !want.name->empty() && !c.image().topic(*want.name) &&
          controller::metadata_store::validate_topic_name(*want.name).empty())
        to_create += controller::requested_partitions(-1, 0, c.config().num_partitions);
    refuse_auto_create = controller::excessive_partitions_per_request(to_create);
    if (refuse_auto_create)
      log::get("server").info("not auto-creating the unknown topics of a Metadata request: {} partitions asked, at "
                              "most {} per request ({})",
                              to_create, controller::partitions_per_request_max,
                              controller::excessive_partitions_message);
  }
  for (const auto& want : *req.topics) {
    auto& out = resp.topics.emplace_back();
    if (!want.name.has_value() || want.name->empty()) {
      // Lookup by topic id (v10+).
      const auto* t = want.topic_id.is_zero() ? nullptr : c.image().topic(want.topic_id);
      if (t && !topic_authorized(ctx, acl_op::describe, t->name)) {
        out.error_code = code(error_code::topic_authorization_failed);
        out.topic_id = want.topic_id;
        continue;
      }
      if (!t) {
        out.error_code = code(error_code::unknown_topic_id);
        out.topic_id = want.topic_id;
        continue;
      }
      fill_topic(c, *t, out);
      continue;
    }
    const std::string& name = *want.name;
    out.name = name;
    if (!authorized(ctx, security::acl_operation::describe, security::resource_type::topic, name)) {
      out.error_code = code(error_code::topic_authorization_failed);
      continue;
    }
    const auto* t = c.image().topic(name);
    if (!t) {
      std::string bad = controller::metadata_store::validate_topic_name(name);
      if (!bad.empty()) {
        out.error_code = code(error_code::invalid_topic_exception);
        continue;
      }
      if (!may_create) {
        out.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      // Auto-creation needs CREATE on the cluster or the topic.
      if (!cluster_authorized(ctx, security::acl_operation::create) &&
          !authorized(ctx, security::acl_operation::create, security::resource_type::topic, name)) {
        out.error_code = code(error_code::topic_authorization_failed);
        continue;
      }
      if (refuse_auto_create) {
        out.error_code = code(error_code::unknown_topic_or_partition);
        continue;
      }
      error_code e = co_await c.auto_create_topic(name);
      if (e != error_code::none) {
        out.error_code = code(e);
        continue;
      }
      t = c.image().topic(name);
      if (!t) {
        out.error_code = code(error_code::leader_not_available);
        continue;
      }
    }
    fill_topic(c, *t, out);
  }
  co_return with_authorized_operations(c, ctx, req, std::move(resp));
}

}  // namespace

api_route metadata_route() { return make_route<req_t, resp_t, &handle, 0, 13>("Metadata"); }

}  // namespace gregor::server
