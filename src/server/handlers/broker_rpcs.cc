// Broker-to-controller RPCs, served by the active controller (on its controller listener):
// BrokerRegistration (62), BrokerHeartbeat (63), AllocateProducerIds (67). Any other node answers
// NOT_CONTROLLER, and the broker looks for the leader again.
#include "gregor/protocol/messages/allocate_producer_ids.h"
#include "gregor/protocol/messages/alter_partition.h"
#include "gregor/protocol/messages/broker_heartbeat.h"
#include "gregor/protocol/messages/broker_registration.h"
#include "gregor/txn/producer_id_allocator.h"
#include "handlers.h"
#include "../active_controller.h"
#include "../metadata_quorum.h"

namespace gregor::server {
namespace {
using protocol::error_code;
namespace asio = boost::asio;

active_controller* active(core& c) {
  auto* a = c.active_controller_if_any();
  return a && a->active() ? a : nullptr;
}

asio::awaitable<std::optional<protocol::broker_registration_response>> registration(
    core& c, request_context& ctx, protocol::broker_registration_request& req) {
  protocol::broker_registration_response resp;
  if (!cluster_authorized(ctx, acl_op::cluster_action)) {  // brokers only
    resp.error_code = code(error_code::cluster_authorization_failed);
    co_return resp;
  }
  auto* a = active(c);
  if (!a) {
    resp.error_code = code(error_code::not_controller);
    co_return resp;
  }
  if (c.quorum()->cluster_id().empty()) {  // the bootstrap records (and the id) not applied yet
    resp.error_code = code(error_code::not_controller);
    co_return resp;
  }
  if (req.cluster_id != c.quorum()->cluster_id()) {
    resp.error_code = code(error_code::inconsistent_cluster_id);
    co_return resp;
  }
  controller::broker_registration reg;
  reg.id = node_id(req.broker_id);
  reg.incarnation_id = req.incarnation_id;
  for (const auto& l : req.listeners)
    reg.endpoints.push_back(controller::broker_endpoint{l.name, l.host, l.port, l.security_protocol});
  reg.rack = req.rack;
  reg.previous_broker_epoch = req.previous_broker_epoch;
  auto r = co_await a->register_broker(std::move(reg));
  if (!r) resp.error_code = code(r.error().code);
  else resp.broker_epoch = *r;
  co_return resp;
}

asio::awaitable<std::optional<protocol::broker_heartbeat_response>> heartbeat(
    core& c, request_context& ctx, protocol::broker_heartbeat_request& req) {
  protocol::broker_heartbeat_response resp;
  if (!cluster_authorized(ctx, acl_op::cluster_action)) {  // brokers only
    resp.error_code = code(error_code::cluster_authorization_failed);
    co_return resp;
  }
  auto* a = active(c);
  if (!a) {
    resp.error_code = code(error_code::not_controller);
    co_return resp;
  }
  controller::broker_heartbeat h;
  h.id = node_id(req.broker_id);
  h.broker_epoch = req.broker_epoch;
  h.current_metadata_offset = req.current_metadata_offset;
  h.want_fence = req.want_fence;
  h.want_shutdown = req.want_shut_down;
  auto r = co_await a->heartbeat(h);
  if (!r) {
    resp.error_code = code(r.error().code);
    co_return resp;
  }
  resp.is_caught_up = r->is_caught_up;
  resp.is_fenced = r->is_fenced;
  resp.should_shut_down = r->should_shutdown;
  co_return resp;
}

asio::awaitable<std::optional<protocol::allocate_producer_ids_response>> allocate_producer_ids(
    core& c, request_context& ctx, protocol::allocate_producer_ids_request& req) {
  protocol::allocate_producer_ids_response resp;
  if (!cluster_authorized(ctx, acl_op::cluster_action)) {  // brokers only
    resp.error_code = code(error_code::cluster_authorization_failed);
    co_return resp;
  }
  auto* a = active(c);
  if (!a) {
    resp.error_code = code(error_code::not_controller);
    co_return resp;
  }
  auto r = co_await a->allocate_producer_ids(node_id(req.broker_id), req.broker_epoch, txn::producer_id_block_size);
  if (!r) {
    resp.error_code = code(r.error().code);
    co_return resp;
  }
  resp.producer_id_start = r->first;
  resp.producer_id_len = r->size;
  co_return resp;
}

// AlterPartition: each partition is decided (and committed) on its own, in request order.
asio::awaitable<std::optional<protocol::alter_partition_response>> alter_partition(
    core& c, request_context& ctx, protocol::alter_partition_request& req) {
  protocol::alter_partition_response resp;
  if (!cluster_authorized(ctx, acl_op::cluster_action)) {  // brokers only
    resp.error_code = code(error_code::cluster_authorization_failed);
    co_return resp;
  }
  auto* a = active(c);
  if (!a) {
    resp.error_code = code(error_code::not_controller);
    co_return resp;
  }
  for (const auto& t : req.topics) {
    auto& tout = resp.topics.emplace_back();
    tout.topic_id = t.topic_id;
    for (const auto& p : t.partitions) {
      auto& pout = tout.partitions.emplace_back();
      pout.partition_index = p.partition_index;
      controller::alter_partition_request r;
      r.broker = node_id(req.broker_id);
      r.broker_epoch = req.broker_epoch;
      r.topic_id = t.topic_id;
      r.partition = p.partition_index;
      r.epoch = leader_epoch(p.leader_epoch);
      r.partition_epoch = p.partition_epoch;
      if (ctx.version() >= 3)
        for (const auto& m : p.new_isr_with_epochs) r.new_isr.push_back(node_id(m.broker_id));
      else
        for (auto id : p.new_isr) r.new_isr.push_back(node_id(id));
      auto out = co_await a->alter_partition(std::move(r));
      if (!out) {
        pout.error_code = code(out.error().code);
        continue;
      }
      pout.leader_id = out->leader.value();
      pout.leader_epoch = out->epoch.value();
      for (auto id : out->isr) pout.isr.push_back(id.value());
      pout.partition_epoch = out->partition_epoch;
    }
  }
  co_return resp;
}

}  // namespace

api_route alter_partition_route() {
  return make_route<protocol::alter_partition_request, protocol::alter_partition_response, &alter_partition, 2, 3>(
      "AlterPartition");
}

api_route broker_registration_route() {
  return make_route<protocol::broker_registration_request, protocol::broker_registration_response, &registration, 0,
                    4>("BrokerRegistration");
}
api_route broker_heartbeat_route() {
  return make_route<protocol::broker_heartbeat_request, protocol::broker_heartbeat_response, &heartbeat, 0, 2>(
      "BrokerHeartbeat");
}
api_route allocate_producer_ids_route() {
  return make_route<protocol::allocate_producer_ids_request, protocol::allocate_producer_ids_response,
                    &allocate_producer_ids, 0, 0>("AllocateProducerIds");
}

}  // namespace gregor::server
