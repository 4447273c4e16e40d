// OffsetFetch (key 9). v1: one group, listed partitions. v2: null topics = every committed
// offset of the group, top-level error. v3: throttle time. v5: committed leader epoch. v6:
// flexible. v7: require_stable: a partition with a pending transactional offset (TxnOffsetCommit of
// a transaction not completed yet) answers UNSTABLE_OFFSET_COMMIT with offset -1, as Kafka does
// (without it, the last committed offset is answered and the pending one stays invisible).
// v8: several groups per request. v9: member id/epoch (consumer protocol; not checked for classic
// groups). v10: topic ids. A partition without a committed offset answers -1 and "" metadata.
#include "gregor/protocol/messages/offset_fetch.h"
#include "../group_service.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::offset_fetch_request;
using resp_t = protocol::offset_fetch_response;
using protocol::error_code;

// One partition's answer: the committed offset, or UNSTABLE_OFFSET_COMMIT (no offset).
struct fetched_partition {
  int32_t index = 0;
  std::optional<group::committed_offset> offset;
  error_code error = error_code::none;
};
struct fetched {
  std::string topic;
  uuid topic_id;
  std::vector<fetched_partition> partitions;
};

// The offsets of one group: the asked topics/partitions, or all committed ones when `topics` is
// null. `require_stable`: partitions with a pending transactional offset are UNSTABLE_OFFSET_COMMIT
// (for "all", only among the committed ones, as Kafka's fetchAllOffsets). Topics the principal may
// not Describe are left out of "all" and answer TOPIC_AUTHORIZATION_FAILED when asked for.
std::vector<fetched> lookup(core& c, request_context& ctx, group_service& groups, const std::string& group_id,
                            const std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>& topics,
                            bool require_stable) {
  std::vector<fetched> out;
  auto& coord = groups.coordinator();
  auto entry = [&](const topic_partition& tp, std::optional<group::committed_offset> o) {
    fetched_partition f{tp.partition.value(), std::move(o), error_code::none};
    if (require_stable && coord.has_pending_txn_offset(group_id, tp)) {
      f.offset.reset();
      f.error = error_code::unstable_offset_commit;
    }
    return f;
  };
  if (!topics) {
    // Offsets come sorted by topic: the authorizer is asked once per topic.
    const std::string* last_topic = nullptr;
    bool describable = false;
    const auto all = coord.offsets_of(group_id);
    for (const auto& [tp, o] : all) {
      if (!last_topic || tp.topic != *last_topic) {
        last_topic = &tp.topic;
        describable = topic_authorized(ctx, acl_op::describe, tp.topic);
      }
      if (!describable) continue;
      if (out.empty() || out.back().topic != tp.topic) {
        out.emplace_back().topic = tp.topic;
        if (const auto* rt = c.topic(tp.topic)) out.back().topic_id = rt->id;
      }
      out.back().partitions.push_back(entry(tp, o));
    }
    return out;
  }
  for (const auto& [name, parts] : *topics) {
    auto& f = out.emplace_back();
    f.topic = name;
    if (const auto* rt = c.topic(name)) f.topic_id = rt->id;
    if (!topic_authorized(ctx, acl_op::describe, name)) {
      for (int32_t p : parts) f.partitions.push_back({p, std::nullopt, error_code::topic_authorization_failed});
      continue;
    }
    for (int32_t p : parts) {
      topic_partition tp{name, partition_id{p}};
      f.partitions.push_back(entry(tp, coord.offset_of(group_id, tp)));
    }
  }
  return out;
}

template <class P>
void fill_partition(P& out, int32_t index, const std::optional<group::committed_offset>& o,
                    error_code e = error_code::none) {
  out.partition_index = index;
  out.committed_offset = o ? o->offset : -1;
  out.committed_leader_epoch = o ? o->leader_epoch : -1;
  out.metadata = o ? o->metadata : std::string();
  out.error_code = code(e);
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  group_service& groups = *co_await c.groups();
  if (ctx.version() < 8) {
    // Kafka 4.x serves the empty group id here (for backwards compatibility).
    error_code e = group_authorized(ctx, acl_op::describe, req.group_id) ? groups.check_coordinator(req.group_id)
                                                                           : error_code::group_authorization_failed;
    std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>> asked;
    if (req.topics) {
      asked.emplace();
      for (const auto& t : *req.topics) asked->emplace_back(t.name, t.partition_indexes);
    }
    if (e != error_code::none) {
      resp.error_code = code(e);
      if (ctx.version() < 2 && req.topics)  // v1 has no top-level error: every partition carries it
        for (const auto& t : *req.topics) {
          auto& tout = resp.topics.emplace_back();
          tout.name = t.name;
          for (int32_t p : t.partition_indexes) {
            auto& pout = tout.partitions.emplace_back();
            fill_partition(pout, p, std::nullopt);
            pout.error_code = code(e);
          }
        }
      co_return resp;
    }
    const bool require_stable = ctx.version() >= 7 && req.require_stable;
    for (auto& f : lookup(c, ctx, groups, req.group_id, asked, require_stable)) {
      auto& tout = resp.topics.emplace_back();
      tout.name = f.topic;
      for (auto& p : f.partitions) fill_partition(tout.partitions.emplace_back(), p.index, p.offset, p.error);
    }
    co_return resp;
  }
  const bool by_id = ctx.version() >= 10;
  for (const auto& g : req.groups) {
    auto& gout = resp.groups.emplace_back();
    gout.group_id = g.group_id;
    error_code e = group_authorized(ctx, acl_op::describe, g.group_id) ? groups.check_coordinator(g.group_id)
                                                                         : error_code::group_authorization_failed;
    if (e != error_code::none) {
      gout.error_code = code(e);
      continue;
    }
    std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>> asked;
    std::vector<uuid> unknown_ids;
    if (g.topics) {
      asked.emplace();
      for (const auto& t : *g.topics) {
        std::string name = t.name;
        if (by_id && !c.topic(t.topic_id, &name)) {
          auto& tout = gout.topics.emplace_back();
          tout.topic_id = t.topic_id;
          for (int32_t p : t.partition_indexes) {
            auto& pout = tout.partitions.emplace_back();
            fill_partition(pout, p, std::nullopt);
            pout.error_code = code(error_code::unknown_topic_id);
          }
          continue;
        }
        asked->emplace_back(name, t.partition_indexes);
      }
    }
    for (auto& f : lookup(c, ctx, groups, g.group_id, asked, req.require_stable)) {
      auto& tout = gout.topics.emplace_back();
      tout.name = f.topic;
      tout.topic_id = f.topic_id;
      for (auto& p : f.partitions) fill_partition(tout.partitions.emplace_back(), p.index, p.offset, p.error);
    }
  }
  co_return resp;
}

}  // namespace

api_route offset_fetch_route() { return make_route<req_t, resp_t, &handle, 1, 10>("OffsetFetch"); }

}  // namespace gregor::server
