// AlterPartitionReassignments (key 45, v0-1) and ListPartitionReassignments (key 46, v0), KIP-455.
// Alter goes to the active controller (forwarded like every metadata change) and is answered once
// this broker's image shows it; List reads this broker's image.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "gregor/protocol/messages/alter_partition_reassignments.h"
#include "gregor/protocol/messages/list_partition_reassignments.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using alter_req_t = protocol::alter_partition_reassignments_request;
using alter_resp_t = protocol::alter_partition_reassignments_response;
using list_req_t = protocol::list_partition_reassignments_request;
using list_resp_t = protocol::list_partition_reassignments_response;
using protocol::error_code;

std::vector<int32_t> ids(const std::vector<node_id>& v) {
  std::vector<int32_t> out;
  for (node_id n : v) out.push_back(n.value());
  return out;
}

boost::asio::awaitable<std::optional<alter_resp_t>> alter(core& c, request_context& ctx, alter_req_t& req) {
  alter_resp_t resp;
  resp.allow_replication_factor_change = req.allow_replication_factor_change;
  if (!cluster_authorized(ctx, acl_op::alter)) {
    // Kafka's error response: the top-level error, repeated for every partition named.
    const error_code denied = error_code::cluster_authorization_failed;
    resp.error_code = code(denied);
    resp.error_message = std::string(authorization_message(denied));
    for (const auto& t : req.topics) {
      auto& rt = resp.responses.emplace_back();
      rt.name = t.name;
      for (const auto& p : t.partitions) {
        auto& rp = rt.partitions.emplace_back();
        rp.partition_index = p.partition_index;
        rp.error_code = code(denied);
        rp.error_message = resp.error_message;
      }
    }
    co_return resp;
  }
  // Items the controller decides, and where each answer goes.
  std::vector<reassignment> items;
  std::vector<std::pair<size_t, size_t>> slots;
  std::set<std::pair<std::string, int32_t>> seen;
  for (size_t ti = 0; ti < req.topics.size(); ++ti) {
    const auto& t = req.topics[ti];
    auto& rt = resp.responses.emplace_back();
    rt.name = t.name;
    for (const auto& p : t.partitions) {
      auto& rp = rt.partitions.emplace_back();
      rp.partition_index = p.partition_index;
      if (!seen.insert({t.name, p.partition_index}).second) {
        rp.error_code = code(error_code::invalid_request);
        rp.error_message = "duplicate partition in the request";
        continue;
      }
      if (!req.allow_replication_factor_change && p.replicas) {
        const auto* info = c.image().topic(t.name);
        if (info && p.partition_index >= 0 && size_t(p.partition_index) < info->partitions.size()) {
          const auto& cur = info->partitions[size_t(p.partition_index)];
          const size_t rf = cur.replicas.size() - cur.adding_replicas.size();
          if (p.replicas->size() != rf) {
            rp.error_code = code(error_code::invalid_replication_factor);
            rp.error_message = fmt::format("The replication factor is changed from {} to {}", rf, p.replicas->size());
            continue;
          }
        }
      }
      reassignment r;
      r.topic = t.name;
      r.partition = p.partition_index;
      if (p.replicas) {
        r.target.emplace();
        for (int32_t b : *p.replicas) r.target->push_back(node_id{b});
      }
      items.push_back(std::move(r));
      slots.emplace_back(ti, rt.partitions.size() - 1);
    }
  }
  if (items.empty()) co_return resp;
  auto r = co_await controller_for(c, ctx).alter_partition_reassignments(std::move(items));
  if (!r) {
    resp.error_code = code(r.error().code);
    resp.error_message = r.error().message;
    co_return resp;
  }
  for (size_t i = 0; i < r->size() && i < slots.size(); ++i) {
    auto& rp = resp.responses[slots[i].first].partitions[slots[i].second];
    const auto& o = (*r)[i];
    if (o.error) {
      rp.error_code = code(o.error->code);
      rp.error_message = o.error->message;
    }
  }
  co_return resp;
}

boost::asio::awaitable<std::optional<list_resp_t>> list(core& c, request_context& ctx, list_req_t& req) {
  list_resp_t resp;
  if (!cluster_authorized(ctx, acl_op::describe)) {
    resp.error_code = code(error_code::cluster_authorization_failed);
    resp.error_message = std::string(authorization_message(error_code::cluster_authorization_failed));
    co_return resp;
  }
  const auto& img = c.image();
  auto add = [&](const std::string& name, const controller::partition_info& p) {
    if (p.adding_replicas.empty() && p.removing_replicas.empty()) return;
    if (resp.topics.empty() || resp.topics.back().name != name) resp.topics.emplace_back().name = name;
    auto& o = resp.topics.back().partitions.emplace_back();
    o.partition_index = p.id.value();
    o.replicas = ids(p.replicas);
    o.adding_replicas = ids(p.adding_replicas);
    o.removing_replicas = ids(p.removing_replicas);
  };
  if (!req.topics) {
    for (const auto& [name, t] : img.topics())
      for (const auto& p : t.partitions) add(name, p);
    co_return resp;
  }
  for (const auto& t : *req.topics) {
    const auto* info = img.topic(t.name);
    if (!info) continue;  // Kafka lists what is being reassigned and skips the rest
    for (int32_t idx : t.partition_indexes)
      if (idx >= 0 && size_t(idx) < info->partitions.size()) add(t.name, info->partitions[size_t(idx)]);
  }
  co_return resp;
}

}  // namespace

api_route alter_partition_reassignments_route() {
  return make_route<alter_req_t, alter_resp_t, &alter, 0, 1>("AlterPartitionReassignments");
}

api_route list_partition_reassignments_route() {
  return make_route<list_req_t, list_resp_t, &list, 0, 0>("ListPartitionReassignments");
}

}  // namespace gregor::server
