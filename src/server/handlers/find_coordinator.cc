// FindCoordinator (key 10). v1: key type (0 group, 1 transaction), error message, throttle time.
// v3: flexible. v4: batched coordinator_keys with one answer each. v5/v6: new error semantics
// (TRANSACTION_ABORTABLE, share groups); nothing changes for us.
// The group coordinator is the leader of partition abs(hash(group)) % offsets.topic.num.partitions
// of __consumer_offsets (created on first use), so moving that leadership moves the coordinator.
#include "gregor/protocol/messages/find_coordinator.h"
#include "../group_service.h"
#include "../txn_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::find_coordinator_request;
using resp_t = protocol::find_coordinator_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  // Key type 0: a group (the leader of its __consumer_offsets partition); 1: a transactional id
  // (the leader of its __transaction_state partition). Each topic is created on first use.
  group_service* groups = nullptr;
  txn_service* txns = nullptr;
  if (req.key_type == 1) txns = co_await c.transactions();
  else groups = co_await c.groups();
  auto answer = [&](const std::string& key) {
    resp_t::coordinator out;
    out.key = key;
    error_code e = error_code::none;
    if (txns) {
      auto info = txns->find_coordinator(key, ctx.conn.listener_name);
      e = info.error;
      out.node_id = info.node.value();
      out.host = info.host;
      out.port = info.port;
    } else {
      auto info = groups->find_coordinator(key, req.key_type, ctx.conn.listener_name);
      e = info.error;
      out.node_id = info.node.value();
      out.host = info.host;
      out.port = info.port;
    }
    out.error_code = code(e);
    if (e != error_code::none) {
      out.node_id = -1;
      out.host = "";
      out.port = -1;
    }
    // Describe on the group or transactional id (checked first, as Kafka).
    const bool denied = req.key_type == 1 ? !transactional_id_authorized(ctx, acl_op::describe, key)
                                          : req.key_type == 0 && !group_authorized(ctx, acl_op::describe, key);
    if (denied) {
      const error_code e = req.key_type == 1 ? error_code::transactional_id_authorization_failed
                                             : error_code::group_authorization_failed;
      out.error_code = code(e);
      out.error_message = std::string(authorization_message(e));
      out.node_id = -1;
      out.host = "";
      out.port = -1;
    } else if ((req.key_type == 0 || req.key_type == 1) && key.empty()) {
      out.error_code = code(error_code::invalid_request);
      out.node_id = -1;
      out.host = "";
      out.port = -1;
    }
    return out;
  };
  if (ctx.version() >= 4) {
    for (const auto& key : req.coordinator_keys) resp.coordinators.push_back(answer(key));
    co_return resp;
  }
  auto one = answer(req.key);
  resp.error_code = one.error_code;
  resp.error_message = one.error_message;
  resp.node_id = one.node_id;
  resp.host = one.host;
  resp.port = one.port;
  co_return resp;
}

}  // namespace

api_route find_coordinator_route() {
  return make_route<req_t, resp_t, &handle, 0, 6>("FindCoordinator");
}

}  // namespace gregor::server
