// ElectLeaders (key 43, v0-2): preferred (v0 always) or unclean leader elections, decided by the
// active controller (forwarded like every metadata change) and answered once this broker's image
// shows the new leaders.
#include <set>

#include "gregor/protocol/messages/elect_leaders.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::elect_leaders_request;
using resp_t = protocol::elect_leaders_response;
using protocol::error_code;

resp_t::replica_election_result& topic_slot(resp_t& resp, const std::string& topic) {
  for (auto& t : resp.replica_election_results)
    if (t.topic == topic) return t;
  auto& t = resp.replica_election_results.emplace_back();
  t.topic = topic;
  return t;
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  if (!cluster_authorized(ctx, acl_op::alter)) {
    // Kafka: the top-level error, repeated for every partition named.
    resp.error_code = code(error_code::cluster_authorization_failed);
    if (req.topic_partitions)
      for (const auto& t : *req.topic_partitions)
        for (int32_t p : t.partitions) {
          auto& out = topic_slot(resp, t.topic).partition_result.emplace_back();
          out.partition_id = p;
          out.error_code = code(error_code::cluster_authorization_failed);
        }
    co_return resp;
  }
  if (req.election_type != 0 && req.election_type != 1) {
    resp.error_code = code(error_code::invalid_request);
    co_return resp;
  }
  std::optional<partition_list> partitions;
  if (req.topic_partitions) {
    partitions.emplace();
    std::set<std::pair<std::string, int32_t>> seen;
    for (const auto& t : *req.topic_partitions)
      for (int32_t p : t.partitions)
        if (seen.insert({t.topic, p}).second) partitions->emplace_back(t.topic, p);
  }
  auto r = co_await controller_for(c, ctx).elect_leaders(static_cast<election_kind>(req.election_type),
                                                          std::move(partitions));
  if (!r) {
    resp.error_code = code(r.error().code);
    co_return resp;
  }
  for (const auto& o : *r) {
    auto& p = topic_slot(resp, o.topic).partition_result.emplace_back();
    p.partition_id = o.partition;
    if (o.error) {
      p.error_code = code(o.error->code);
      p.error_message = o.error->message;
    }
  }
  co_return resp;
}

}  // namespace

api_route elect_leaders_route() { return make_route<req_t, resp_t, &handle, 0, 2>("ElectLeaders"); }

}  // namespace gregor::server
