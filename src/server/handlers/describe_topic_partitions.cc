// DescribeTopicPartitions (key 75, KIP-966; v0 only, flexible). What the Java AdminClient 3.8+ uses
// for describeTopics: the partitions of the named topics (none named = every topic) sorted by name,
// at most ResponsePartitionLimit of them per response, from an optional Cursor on; NextCursor says
// where the next page starts when the limit cut this one short. Kafka's paging rules, kept here:
// - the limit is clamped to [1, max.request.partition.size.limit = 2000];
// - only topics named >= the cursor's topic take part; the cursor's partition index applies to the
//   cursor's topic only; a named list must contain the cursor's topic and the cursor's partition
//   index must not be negative (else INVALID_REQUEST for every named topic, Kafka's error response);
// - a topic cut by the limit ends the page with NextCursor = (topic, first partition left out); a
//   topic reached with the limit exactly used up ends it with NextCursor = (topic, 0) whether or not
//   the topic exists;
// - unknown names (only possible when topics are named) answer UNKNOWN_TOPIC_OR_PARTITION, invalid
//   ones INVALID_TOPIC_EXCEPTION, and use none of the limit.
// No ELR yet (eligible_leader_replicas and last_known_elr are empty). With no authorizer Kafka
// reports every operation a topic supports as authorized, and so do we.
#include <algorithm>
#include <set>

#include "gregor/protocol/messages/describe_topic_partitions.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::describe_topic_partitions_request;
using resp_t = protocol::describe_topic_partitions_response;
using topic_out_t = resp_t::describe_topic_partitions_response_topic;
using protocol::error_code;

// Kafka's max.request.partition.size.limit (default 2000): the most partitions in one response.
constexpr int32_t response_partitions_max = 2000;

bool is_internal_name(const std::string& name) {
  return name == "__consumer_offsets" || name == "__transaction_state";
}

// A replica is offline when its broker is unknown to the image or fenced.
bool replica_offline(core& c, node_id replica) {
  const auto& brokers = c.image().brokers();
  auto it = brokers.find(replica);
  return it == brokers.end() || it->second.fenced;
}

// Partitions [start, start + count_max) of t (start >= 0); returns the index of the first partition
// left out, or -1 when the rest of the topic fits.
int32_t fill_partitions(core& c, const controller::topic_info& t, int32_t start, int32_t count_max,
                        topic_out_t& out) {
  const int64_t size = static_cast<int64_t>(t.partitions.size());
  const int64_t upper = std::min<int64_t>(size, int64_t{start} + count_max);
  for (int64_t i = start; i < upper; ++i) {
    const auto& p = t.partitions[static_cast<size_t>(i)];
    auto& po = out.partitions.emplace_back();
    po.error_code = 0;
    po.partition_index = p.id.value();
    // Kafka names the leader only while its broker is registered.
    po.leader_id = c.image().brokers().contains(p.leader) ? p.leader.value() : no_node.value();
    po.leader_epoch = p.leader_epoch.value();
    for (auto r : p.replicas) {
      po.replica_nodes.push_back(r.value());
      if (replica_offline(c, r)) po.offline_replicas.push_back(r.value());
    }
    for (auto r : p.isr) po.isr_nodes.push_back(r.value());
    po.eligible_leader_replicas.emplace();
    po.last_known_elr.emplace();
  }
  return upper < size ? static_cast<int32_t>(upper) : -1;
}

resp_t invalid_request(const req_t& req) {
  // Kafka's error response for this API: every named topic with the error, nothing else.
  resp_t resp;
  for (const auto& want : req.topics) {
    auto& out = resp.topics.emplace_back();
    out.error_code = code(error_code::invalid_request);
    out.name = want.name;
  }
  return resp;
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  const bool all_topics = req.topics.empty();
  const std::string cursor_topic = req.cursor ? req.cursor->topic_name : std::string();
  std::set<std::string> names;  // sorted and without duplicates, as Kafka answers
  if (all_topics) {
    for (const auto& [name, t] : c.image().topics()) {
      if (name >= cursor_topic) names.insert(name);
    }
  } else {
    for (const auto& want : req.topics) {
      if (want.name >= cursor_topic) names.insert(want.name);
    }
    if (req.cursor && !names.contains(cursor_topic)) co_return invalid_request(req);
  }
  if (req.cursor && req.cursor->partition_index < 0) co_return invalid_request(req);
  // Topics the principal may not Describe: left out of "all", answered TOPIC_AUTHORIZATION_FAILED
  // after the others when named (their existence is not looked at), as Kafka.
  std::vector<std::string> unauthorized;
  for (auto it = names.begin(); it != names.end();) {
    if (topic_authorized(ctx, acl_op::describe, *it)) {
      ++it;
      continue;
    }
    if (!all_topics) unauthorized.push_back(*it);
    it = names.erase(it);
  }

  resp_t resp;
  int32_t remaining = std::clamp(req.response_partition_limit, 1, response_partitions_max);
  for (const auto& name : names) {
    if (remaining == 0) {
      // The previous topic used the limit up exactly: the next page starts at this one.
      resp.next_cursor.emplace().topic_name = name;
      break;
    }
    const auto* t = c.image().topic(name);
    if (!t) {
      if (all_topics) continue;
      auto& out = resp.topics.emplace_back();
      const bool valid = controller::metadata_store::validate_topic_name(name).empty();
      out.error_code = code(valid ? error_code::unknown_topic_or_partition : error_code::invalid_topic_exception);
      out.name = name;
      out.is_internal = is_internal_name(name);
      out.topic_authorized_operations = authorized_operations(ctx, security::resource_type::topic, name);
      continue;
    }
    auto& out = resp.topics.emplace_back();
    out.error_code = 0;
    out.name = t->name;
    out.topic_id = t->id;
    out.is_internal = t->internal;
    out.topic_authorized_operations = authorized_operations(ctx, security::resource_type::topic, name);
    const int32_t start = name == cursor_topic && req.cursor ? req.cursor->partition_index : 0;
    const int32_t next = fill_partitions(c, *t, start, remaining, out);
    if (next != -1) {
      auto& cursor = resp.next_cursor.emplace();
      cursor.topic_name = name;
      cursor.partition_index = next;
      break;
    }
    remaining -= static_cast<int32_t>(out.partitions.size());
  }
  for (const auto& name : unauthorized) {
    auto& out = resp.topics.emplace_back();
    out.error_code = code(error_code::topic_authorization_failed);
    out.name = name;
  }
  co_return resp;
}

}  // namespace

api_route describe_topic_partitions_route() {
  return make_route<req_t, resp_t, &handle, 0, 0>("DescribeTopicPartitions");
}

}  // namespace gregor::server
