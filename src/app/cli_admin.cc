// Admin CLI commands: cluster info, topic create|list|describe|delete|alter,
// group list|describe|reset-offsets|delete.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "cli.h"
#include "gregor/protocol/messages/create_partitions.h"
#include "gregor/protocol/messages/create_topics.h"
#include "gregor/protocol/messages/delete_groups.h"
#include "gregor/protocol/messages/delete_topics.h"
#include "gregor/protocol/messages/describe_cluster.h"
#include "gregor/protocol/messages/describe_configs.h"
#include "gregor/protocol/messages/describe_groups.h"
#include "gregor/protocol/messages/describe_quorum.h"
#include "gregor/protocol/messages/incremental_alter_configs.h"
#include "gregor/protocol/messages/list_groups.h"
#include "gregor/protocol/messages/list_offsets.h"
#include "gregor/protocol/messages/offset_commit.h"
#include "gregor/protocol/messages/offset_fetch.h"

namespace gregor::app {
namespace p = protocol;
using client::error_name;

namespace {

constexpr int8_t k_resource_topic = 2;

template <class T>
T must(result<T, std::string> r) {
  if (!r) throw cli_error{r.error()};
  return std::move(*r);
}

bool json_of(const cli_args& a) { return a.get("--format").value_or("table") == "json"; }

std::string join_ids(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string fail_sentence(std::string_view what, int16_t code, const std::optional<std::string>& msg) {
  std::string s = fmt::format("{}: {}", what, error_name(code));
  if (msg && !msg->empty()) s += fmt::format(" ({})", *msg);
  return s;
}

int32_t parse_int(const std::string& flag, const std::string& v, int64_t min, int64_t max) {
  char* end = nullptr;
  long long n = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end || n < min || n > max)
    throw cli_error{fmt::format("{} must be an integer between {} and {}, not '{}'", flag, min, max, v), 2};
  return int32_t(n);
}

std::pair<std::string, std::string> split_config(const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0)
    throw cli_error{fmt::format("--config takes NAME=VALUE, got '{}'", kv), 2};
  return {kv.substr(0, eq), kv.substr(eq + 1)};
}

cli_args parse(const std::vector<std::string>& args, const std::vector<std::string>& values,
               const std::vector<std::string>& switches = {}) {
  cli_args a;
  if (auto err = parse_cli_args(args, values, switches, a)) throw cli_error{*err, 2};
  return a;
}

// ---- cluster ----

constexpr const char* k_metadata_topic = "__cluster_metadata";

// Every broker with its fenced state (DescribeCluster v2 with fenced brokers included), or null
// with the reason on stderr when the broker cannot tell (no DescribeCluster v2).
std::optional<p::describe_cluster_response> describe_brokers(client::connection& conn) {
  p::describe_cluster_request req;
  auto v = conn.version_for(req.api_key, req.min_version, req.max_version);
  if (!v || *v < 2) {
    std::fprintf(stderr, "gregor: fenced state unknown: %s\n",
                 v ? "the broker has no DescribeCluster v2" : v.error().c_str());
    return std::nullopt;
  }
  req.include_fenced_brokers = true;
  auto resp = conn.call<p::describe_cluster_request, p::describe_cluster_response>(req);
  if (!resp || resp->error_code) {
    std::fprintf(stderr, "gregor: fenced state unknown: %s\n",
                 resp ? fail_sentence("DescribeCluster", resp->error_code, resp->error_message).c_str()
                      : resp.error().c_str());
    return std::nullopt;
  }
  return std::move(*resp);
}

// The metadata quorum (DescribeQuorum on __cluster_metadata-0; a broker forwards it to the active
// controller), or null with the reason on stderr.
std::optional<p::describe_quorum_response::partition_data> describe_quorum(client::connection& conn) {
  p::describe_quorum_request req;
  auto& t = req.topics.emplace_back();
  t.topic_name = k_metadata_topic;
  t.partitions.emplace_back().partition_index = 0;
  auto resp = conn.call<p::describe_quorum_request, p::describe_quorum_response>(req);
  std::string why;
  if (!resp) why = resp.error();
  else if (resp->error_code) why = fail_sentence("DescribeQuorum", resp->error_code, resp->error_message);
  else if (resp->topics.size() != 1 || resp->topics[0].partitions.size() != 1)
    why = "DescribeQuorum answered without __cluster_metadata-0";
  else if (const auto& pt = resp->topics[0].partitions[0]; pt.error_code)
    why = fail_sentence("DescribeQuorum", pt.error_code, pt.error_message);
  if (!why.empty()) {
    std::fprintf(stderr, "gregor: quorum unknown: %s\n", why.c_str());
    return std::nullopt;
  }
  return std::move(resp->topics[0].partitions[0]);
}

// Milliseconds since a wall-clock timestamp from the broker ("" when unknown, 0 when ahead of us).
std::string age_ms(int64_t timestamp_ms, int64_t now_ms) {
  return timestamp_ms < 0 ? "" : std::to_string(std::max<int64_t>(0, now_ms - timestamp_ms));
}

table quorum_replicas(const p::describe_quorum_response::partition_data& q) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  // Lag against the leader's log end offset (as gregor_quorum_voter_lag), else the high watermark.
  int64_t leader_end = q.high_watermark;
  for (const auto& v : q.current_voters)
    if (v.replica_id == q.leader_id) leader_end = v.log_end_offset;
  table t{"replicas",
          {"id", "role", "log_end_offset", "lag", "last_fetch_ms_ago", "last_caught_up_ms_ago"},
          {}};
  auto add = [&](const p::describe_quorum_response::replica_state& r, std::string role) {
    const std::string lag =
        r.log_end_offset < 0 ? "" : std::to_string(std::max<int64_t>(0, leader_end - r.log_end_offset));
    t.rows.push_back({std::to_string(r.replica_id), std::move(role), std::to_string(r.log_end_offset), lag,
                      age_ms(r.last_fetch_timestamp, now_ms), age_ms(r.last_caught_up_timestamp, now_ms)});
  };
  for (const auto& v : q.current_voters) add(v, v.replica_id == q.leader_id ? "leader" : "follower");
  for (const auto& o : q.observers) add(o, "observer");
  return t;
}

int cluster_info(const cli_args& a) {
  auto& c = connect_client(a);
  auto md = must(c.metadata(std::vector<std::string>{}));
  auto described = describe_brokers(c.bootstrap());
  table brokers{"brokers", {"id", "host", "port", "rack", "fenced"}, {}};
  if (described) {
    auto sorted = described->brokers;
    std::sort(sorted.begin(), sorted.end(), [](auto& x, auto& y) { return x.broker_id < y.broker_id; });
    for (const auto& b : sorted)
      brokers.rows.push_back({std::to_string(b.broker_id), b.host, std::to_string(b.port),
                              b.rack.value_or(""), b.is_fenced ? "true" : "false"});
  } else {
    auto sorted = md.brokers;
    std::sort(sorted.begin(), sorted.end(), [](auto& x, auto& y) { return x.node_id < y.node_id; });
    for (const auto& b : sorted)
      brokers.rows.push_back({std::to_string(b.node_id), b.host, std::to_string(b.port),
                              b.rack.value_or(""), ""});
  }
  table info{"cluster", {"cluster_id", "controller_id", "brokers"}, {}};
  info.rows.push_back({md.cluster_id.value_or(""), std::to_string(md.controller_id),
                       std::to_string(brokers.rows.size())});
  std::vector<table> out{info, brokers};
  if (auto q = describe_quorum(c.bootstrap())) {
    table quorum{"quorum", {"leader_id", "leader_epoch", "high_watermark", "voters", "observers"}, {}};
    quorum.rows.push_back({std::to_string(q->leader_id), std::to_string(q->leader_epoch),
                           std::to_string(q->high_watermark), std::to_string(q->current_voters.size()),
                           std::to_string(q->observers.size())});
    out.push_back(std::move(quorum));
    out.push_back(quorum_replicas(*q));
  }
  print_tables(out, json_of(a));
  return 0;
}

// ---- topics ----

int topic_list(const cli_args& a) {
  auto& c = connect_client(a);
  auto md = must(c.metadata(std::nullopt));
  table t{"topics", {"name", "partitions", "replication_factor", "internal"}, {}, {"name"}};
  std::sort(md.topics.begin(), md.topics.end(), [](auto& x, auto& y) { return x.name < y.name; });
  for (const auto& topic : md.topics) {
    if (topic.is_internal && !a.has("--include-internal")) continue;
    size_t rf = topic.partitions.empty() ? 0 : topic.partitions[0].replica_nodes.size();
    t.rows.push_back({topic.name.value_or(""), std::to_string(topic.partitions.size()), std::to_string(rf),
                      topic.is_internal ? "true" : "false"});
  }
  print_tables({t}, json_of(a));
  return 0;
}

// Kafka's ListOffsets replica id for debugging: any replica answers, with its log end offset.
constexpr int32_t k_debugging_replica_id = -2;
constexpr int64_t k_latest_timestamp = -1;

// (topic, partition, broker) → that replica's log end offset. Each broker hosting a replica is asked
// once (ListOffsets latest with the debugging replica id); a broker that cannot be reached or a
// partition it answers with an error is left out (its lag shows as unknown).
using replica_key = std::tuple<std::string, int32_t, int32_t>;
std::map<replica_key, int64_t> replica_end_offsets(client::client& c, const p::metadata_response& md) {
  std::map<int32_t, p::list_offsets_request> by_broker;
  for (const auto& t : md.topics)
    for (const auto& pt : t.partitions)
      for (int32_t r : pt.replica_nodes) {
        auto& req = by_broker[r];
        req.replica_id = k_debugging_replica_id;
        if (req.topics.empty() || req.topics.back().name != t.name.value_or(""))
          req.topics.emplace_back().name = t.name.value_or("");
        auto& rp = req.topics.back().partitions.emplace_back();
        rp.partition_index = pt.partition_index;
        rp.timestamp = k_latest_timestamp;
      }
  std::map<replica_key, int64_t> out;
  for (auto& [broker, req] : by_broker) {
    auto conn = c.broker(broker);
    if (!conn) {
      std::fprintf(stderr, "note: no lag from broker %d: %s\n", broker, conn.error().c_str());
      continue;
    }
    auto resp = (*conn)->call<p::list_offsets_request, p::list_offsets_response>(req);
    if (!resp) {
      std::fprintf(stderr, "note: no lag from broker %d: %s\n", broker, resp.error().c_str());
      continue;
    }
    for (const auto& t : resp->topics)
      for (const auto& pt : t.partitions)
        if (pt.error_code == 0 && pt.offset >= 0) out[{t.name, pt.partition_index, broker}] = pt.offset;
  }
  return out;
}

// Each follower's lag behind the leader's log end offset: "2:0,3:5" in replica order, "?" when
// unknown, and the largest as a number ("-" when any is unknown).
std::pair<std::string, std::string> replica_lags(const std::map<replica_key, int64_t>& ends, const std::string& topic,
                                                 const p::metadata_response::metadata_response_partition& pt) {
  auto end_of = [&](int32_t broker) -> std::optional<int64_t> {
    auto it = ends.find({topic, pt.partition_index, broker});
    return it == ends.end() ? std::nullopt : std::optional(it->second);
  };
  const auto leader_end = end_of(pt.leader_id);
  std::string each;
  int64_t max_lag = 0;
  bool known = leader_end.has_value();
  for (int32_t r : pt.replica_nodes) {
    if (r == pt.leader_id) continue;
    const auto end = end_of(r);
    std::string cell = "?";
    if (leader_end && end) {
      const int64_t lag = std::max<int64_t>(0, *leader_end - *end);
      max_lag = std::max(max_lag, lag);
      cell = std::to_string(lag);
    } else {
      known = false;
    }
    each += (each.empty() ? "" : ",") + std::to_string(r) + ":" + cell;
  }
  return {known ? std::to_string(max_lag) : "-", each};
}

int topic_describe(const cli_args& a) {
  if (a.positional.empty()) throw cli_error{"topic describe needs at least one topic name", 2};
  auto& c = connect_client(a);
  auto md = must(c.metadata(a.positional));
  for (const auto& topic : md.topics)
    if (topic.error_code)
      throw cli_error{fail_sentence(fmt::format("cannot describe topic '{}'", topic.name.value_or("")),
                                    topic.error_code, std::nullopt)};
  const auto ends = replica_end_offsets(c, md);
  table parts{"partitions",
              {"topic", "partition", "leader", "leader_epoch", "replicas", "isr", "log_end_offset", "lag",
               "replica_lag"},
              {},
              {"replica_lag"}};
  for (const auto& topic : md.topics) {
    const std::string name = topic.name.value_or("");
    auto ps = topic.partitions;
    std::sort(ps.begin(), ps.end(), [](auto& x, auto& y) { return x.partition_index < y.partition_index; });
    for (const auto& pt : ps) {
      auto leader_end = ends.find({name, pt.partition_index, pt.leader_id});
      auto [lag, each] = replica_lags(ends, name, pt);
      parts.rows.push_back({name, std::to_string(pt.partition_index), std::to_string(pt.leader_id),
                            std::to_string(pt.leader_epoch), join_ids(pt.replica_nodes), join_ids(pt.isr_nodes),
                            leader_end == ends.end() ? "-" : std::to_string(leader_end->second), lag, each});
    }
  }
  p::describe_configs_request req;
  for (const auto& name : a.positional) {
    auto& r = req.resources.emplace_back();
    r.resource_type = k_resource_topic;
    r.resource_name = name;
  }
  auto resp = must(c.bootstrap().call<p::describe_configs_request, p::describe_configs_response>(req));
  table cfg{"configs", {"topic", "name", "value", "source"}, {}, {"value"}};
  for (const auto& r : resp.results) {
    if (r.error_code)
      throw cli_error{fail_sentence(fmt::format("cannot describe the configs of topic '{}'", r.resource_name),
                                    r.error_code, r.error_message)};
    for (const auto& e : r.configs) {
      // Only what differs from the broker defaults, like kafka-topics --describe.
      if (e.config_source != 1 && !a.has("--all-configs")) continue;
      static const char* sources[] = {"unknown", "topic", "dynamic_broker", "dynamic_default_broker",
                                      "static_broker", "default", "dynamic_broker_logger"};
      std::string src = e.config_source >= 0 && e.config_source <= 6 ? sources[e.config_source] : "unknown";
      cfg.rows.push_back({r.resource_name, e.name, e.is_sensitive ? "(sensitive)" : e.value.value_or(""), src});
    }
  }
  print_tables({parts, cfg}, json_of(a));
  return 0;
}

int topic_create(const cli_args& a) {
  if (a.positional.empty()) throw cli_error{"topic create needs a topic name", 2};
  auto& c = connect_client(a);
  p::create_topics_request req;
  req.timeout_ms = 30000;
  req.validate_only = a.has("--validate-only");
  for (const auto& name : a.positional) {
    auto& t = req.topics.emplace_back();
    t.name = name;
    t.num_partitions = a.get("--partitions") ? parse_int("--partitions", *a.get("--partitions"), 1, 1000000) : -1;
    t.replication_factor = a.get("--replication-factor")
                               ? int16_t(parse_int("--replication-factor", *a.get("--replication-factor"), 1, 32767))
                               : int16_t(-1);
    for (const auto& kv : a.all("--config")) {
      auto [k, v] = split_config(kv);
      auto& cfg = t.configs.emplace_back();
      cfg.name = k;
      cfg.value = v;
    }
  }
  // v4+ accepts -1 for "broker default" partitions and replication factor.
  auto resp = must(c.bootstrap().call<p::create_topics_request, p::create_topics_response>(req));
  table t{"created", {"name", "partitions", "replication_factor"}, {}, {"name"}};
  std::string errors;
  for (const auto& r : resp.topics) {
    if (r.error_code) {
      errors += (errors.empty() ? "" : "; ") +
                fail_sentence(fmt::format("cannot create topic '{}'", r.name), r.error_code, r.error_message);
      continue;
    }
    t.rows.push_back({r.name, std::to_string(r.num_partitions), std::to_string(r.replication_factor)});
  }
  if (!errors.empty()) throw cli_error{errors};
  print_tables({t}, json_of(a));
  return 0;
}

int topic_delete(const cli_args& a) {
  if (a.positional.empty()) throw cli_error{"topic delete needs at least one topic name", 2};
  auto& c = connect_client(a);
  p::delete_topics_request req;
  req.timeout_ms = 30000;
  auto v = must(c.bootstrap().version_for(req.api_key, req.min_version, req.max_version));
  for (const auto& name : a.positional) {
    if (v >= 6) req.topics.emplace_back().name = name;
    else req.topic_names.push_back(name);
  }
  auto resp = must(c.bootstrap().call<p::delete_topics_request, p::delete_topics_response>(req));
  table t{"deleted", {"name"}, {}, {"name"}};
  std::string errors;
  for (const auto& r : resp.responses) {
    if (r.error_code) {
      errors += (errors.empty() ? "" : "; ") +
                fail_sentence(fmt::format("cannot delete topic '{}'", r.name.value_or("")), r.error_code,
                              r.error_message);
      continue;
    }
    t.rows.push_back({r.name.value_or("")});
  }
  if (!errors.empty()) throw cli_error{errors};
  print_tables({t}, json_of(a));
  return 0;
}

int topic_alter(const cli_args& a) {
  if (a.positional.size() != 1) throw cli_error{"topic alter needs exactly one topic name", 2};
  const std::string& name = a.positional[0];
  if (!a.get("--partitions") && a.all("--config").empty() && a.all("--delete-config").empty())
    throw cli_error{"topic alter needs --partitions N, --config NAME=VALUE or --delete-config NAME", 2};
  auto& c = connect_client(a);
  table t{"altered", {"name", "change"}, {}, {"change"}};
  if (auto np = a.get("--partitions")) {
    p::create_partitions_request req;
    req.timeout_ms = 30000;
    auto& tp = req.topics.emplace_back();
    tp.name = name;
    tp.count = parse_int("--partitions", *np, 1, 1000000);
    auto resp = must(c.bootstrap().call<p::create_partitions_request, p::create_partitions_response>(req));
    for (const auto& r : resp.results)
      if (r.error_code)
        throw cli_error{fail_sentence(fmt::format("cannot set the partitions of topic '{}' to {}", name, *np),
                                      r.error_code, r.error_message)};
    t.rows.push_back({name, "partitions=" + *np});
  }
  if (!a.all("--config").empty() || !a.all("--delete-config").empty()) {
    p::incremental_alter_configs_request req;
    auto& res = req.resources.emplace_back();
    res.resource_type = k_resource_topic;
    res.resource_name = name;
    for (const auto& kv : a.all("--config")) {
      auto [k, v] = split_config(kv);
      auto& cfg = res.configs.emplace_back();
      cfg.name = k;
      cfg.config_operation = 0;  // SET
      cfg.value = v;
      t.rows.push_back({name, k + "=" + v});
    }
    for (const auto& k : a.all("--delete-config")) {
      auto& cfg = res.configs.emplace_back();
      cfg.name = k;
      cfg.config_operation = 1;  // DELETE
      t.rows.push_back({name, "deleted " + k});
    }
    auto resp = must(c.bootstrap().call<p::incremental_alter_configs_request,
                                        p::incremental_alter_configs_response>(req));
    for (const auto& r : resp.responses)
      if (r.error_code)
        throw cli_error{fail_sentence(fmt::format("cannot alter the configs of topic '{}'", name),
                                      r.error_code, r.error_message)};
  }
  print_tables({t}, json_of(a));
  return 0;
}

// ---- groups ----

int group_list(const cli_args& a) {
  auto& c = connect_client(a);
  std::map<std::string, p::list_groups_response::listed_group> groups;
  for (client::connection* b : must(c.all_brokers())) {
    p::list_groups_request req;
    auto resp = must(b->call<p::list_groups_request, p::list_groups_response>(req));
    if (resp.error_code)
      throw cli_error{fail_sentence(fmt::format("cannot list groups on {}", b->address()), resp.error_code, std::nullopt)};
    for (auto& g : resp.groups) groups[g.group_id] = g;
  }
  table t{"groups", {"group", "protocol_type", "state"}, {}, {"group"}};
  for (const auto& [id, g] : groups) t.rows.push_back({id, g.protocol_type, g.group_state});
  print_tables({t}, json_of(a));
  return 0;
}

struct committed {
  std::string topic;
  int32_t partition;
  int64_t offset;
};

std::vector<committed> fetch_committed(client::connection& coord, const std::string& group) {
  p::offset_fetch_request req;
  req.group_id = group;  // topics null = every committed partition (v2+)
  auto resp = must(coord.call<p::offset_fetch_request, p::offset_fetch_response>(req, 7));
  if (resp.error_code)
    throw cli_error{fail_sentence(fmt::format("cannot fetch the offsets of group '{}'", group), resp.error_code, std::nullopt)};
  std::vector<committed> out;
  for (const auto& t : resp.topics)
    for (const auto& pt : t.partitions)
      if (pt.error_code == 0 && pt.committed_offset >= 0)
        out.push_back({t.name, pt.partition_index, pt.committed_offset});
  std::sort(out.begin(), out.end(), [](auto& x, auto& y) {
    return std::tie(x.topic, x.partition) < std::tie(y.topic, y.partition);
  });
  return out;
}

// Earliest (-2) or latest (-1) offset of each partition, asked of each partition's leader.
std::map<std::pair<std::string, int32_t>, int64_t> list_offsets(client::client& c,
                                                                const std::set<std::string>& topics,
                                                                int64_t timestamp) {
  std::map<std::pair<std::string, int32_t>, int64_t> out;
  if (topics.empty()) return out;
  auto md = must(c.metadata(std::vector<std::string>(topics.begin(), topics.end())));
  std::map<int32_t, p::list_offsets_request> by_leader;
  for (const auto& t : md.topics) {
    if (t.error_code)
      throw cli_error{fail_sentence(fmt::format("cannot look up topic '{}'", t.name.value_or("")), t.error_code, std::nullopt)};
    for (const auto& pt : t.partitions) {
      auto& req = by_leader[pt.leader_id];
      req.replica_id = -1;
      if (req.topics.empty() || req.topics.back().name != t.name.value_or(""))
        req.topics.emplace_back().name = t.name.value_or("");
      auto& rp = req.topics.back().partitions.emplace_back();
      rp.partition_index = pt.partition_index;
      rp.timestamp = timestamp;
    }
  }
  for (auto& [leader, req] : by_leader) {
    client::connection* b = must(c.broker(leader));
    auto resp = must(b->call<p::list_offsets_request, p::list_offsets_response>(req));
    for (const auto& t : resp.topics)
      for (const auto& pt : t.partitions) {
        if (pt.error_code)
          throw cli_error{fail_sentence(fmt::format("cannot list offsets of {}-{}", t.name, pt.partition_index),
                                        pt.error_code, std::nullopt)};
        out[{t.name, pt.partition_index}] = pt.offset;
      }
  }
  return out;
}

int group_describe(const cli_args& a) {
  if (a.positional.size() != 1) throw cli_error{"group describe needs exactly one group id", 2};
  const std::string& group = a.positional[0];
  auto& c = connect_client(a);
  client::connection* coord = must(c.group_coordinator(group));
  p::describe_groups_request dreq;
  dreq.groups.push_back(group);
  auto dresp = must(coord->call<p::describe_groups_request, p::describe_groups_response>(dreq));
  table info{"group", {"group", "state", "protocol_type", "protocol", "members", "coordinator"}, {}, {"group"}};
  table members{"members", {"member_id", "client_id", "client_host"}, {}};
  for (const auto& g : dresp.groups) {
    if (g.error_code)
      throw cli_error{fail_sentence(fmt::format("cannot describe group '{}'", group), g.error_code, g.error_message)};
    info.rows.push_back({g.group_id, g.group_state, g.protocol_type, g.protocol_data,
                         std::to_string(g.members.size()), coord->address()});
    for (const auto& m : g.members) members.rows.push_back({m.member_id, m.client_id, m.client_host});
  }
  auto offsets = fetch_committed(*coord, group);
  std::set<std::string> topics;
  for (const auto& o : offsets) topics.insert(o.topic);
  auto ends = list_offsets(c, topics, -1);
  table lag{"offsets", {"topic", "partition", "committed_offset", "log_end_offset", "lag"}, {}};
  for (const auto& o : offsets) {
    auto it = ends.find({o.topic, o.partition});
    int64_t end = it == ends.end() ? -1 : it->second;
    lag.rows.push_back({o.topic, std::to_string(o.partition), std::to_string(o.offset),
                        std::to_string(end), end < 0 ? "" : std::to_string(std::max<int64_t>(0, end - o.offset))});
  }
  print_tables({info, members, lag}, json_of(a));
  return 0;
}

int group_delete(const cli_args& a) {
  if (a.positional.empty()) throw cli_error{"group delete needs at least one group id", 2};
  auto& c = connect_client(a);
  table t{"deleted", {"group"}, {}, {"group"}};
  for (const auto& group : a.positional) {
    client::connection* coord = must(c.group_coordinator(group));
    p::delete_groups_request req;
    req.groups_names.push_back(group);
    auto resp = must(coord->call<p::delete_groups_request, p::delete_groups_response>(req));
    for (const auto& r : resp.results)
      if (r.error_code)
        throw cli_error{fail_sentence(fmt::format("cannot delete group '{}'", group), r.error_code, std::nullopt)};
    t.rows.push_back({group});
  }
  print_tables({t}, json_of(a));
  return 0;
}

int group_reset_offsets(const cli_args& a) {
  if (a.positional.size() != 1) throw cli_error{"group reset-offsets needs exactly one group id", 2};
  const std::string& group = a.positional[0];
  auto topics_flag = a.all("--topic");
  if (topics_flag.empty()) throw cli_error{"group reset-offsets needs --topic TOPIC", 2};
  int modes = a.has("--to-earliest") + a.has("--to-latest") + (a.get("--to-offset") ? 1 : 0);
  if (modes != 1) throw cli_error{"group reset-offsets needs one of --to-earliest, --to-latest, --to-offset N", 2};
  auto& c = connect_client(a);
  std::set<std::string> topics(topics_flag.begin(), topics_flag.end());
  std::map<std::pair<std::string, int32_t>, int64_t> target;
  if (auto o = a.get("--to-offset")) {
    char* end = nullptr;
    long long n = std::strtoll(o->c_str(), &end, 10);
    if (o->empty() || *end || n < 0) throw cli_error{fmt::format("--to-offset must be an offset >= 0, not '{}'", *o), 2};
    auto earliest = list_offsets(c, topics, -2);
    auto latest = list_offsets(c, topics, -1);
    for (auto& [tp, lo] : earliest) target[tp] = std::clamp<int64_t>(n, lo, latest[tp]);
  } else {
    target = list_offsets(c, topics, a.has("--to-earliest") ? -2 : -1);
  }
  table t{"offsets", {"topic", "partition", "new_offset"}, {}};
  for (const auto& [tp, off] : target) t.rows.push_back({tp.first, std::to_string(tp.second), std::to_string(off)});
  if (a.has("--execute")) {
    client::connection* coord = must(c.group_coordinator(group));
    p::offset_commit_request req;
    req.group_id = group;
    req.generation_id_or_member_epoch = -1;
    for (const auto& [tp, off] : target) {
      if (req.topics.empty() || req.topics.back().name != tp.first) req.topics.emplace_back().name = tp.first;
      auto& pp = req.topics.back().partitions.emplace_back();
      pp.partition_index = tp.second;
      pp.committed_offset = off;
    }
    auto resp = must(coord->call<p::offset_commit_request, p::offset_commit_response>(req, 8));
    for (const auto& rt : resp.topics)
      for (const auto& rp : rt.partitions)
        if (rp.error_code)
          throw cli_error{fail_sentence(
              fmt::format("cannot reset the offset of group '{}' on {}-{}", group, rt.name, rp.partition_index),
              rp.error_code, std::nullopt)};
  } else if (!json_of(a)) {
    std::fprintf(stderr, "dry run: add --execute to commit these offsets\n");
  }
  print_tables({t}, json_of(a));
  return 0;
}

constexpr const char* k_topic_usage =
    "usage: gregor topic list [--include-internal]\n"
    "       gregor topic describe TOPIC... [--all-configs]\n"
    "       gregor topic create TOPIC... [--partitions N] [--replication-factor N] [--config NAME=VALUE]...\n"
    "       gregor topic delete TOPIC...\n"
    "       gregor topic alter TOPIC [--partitions N] [--config NAME=VALUE]... [--delete-config NAME]...\n"
    "common: -b/--bootstrap-server HOST:PORT (default $GREGOR_BOOTSTRAP or localhost:9092),\n"
    "        --format table|json, --timeout-ms MS, --client-id ID\n";

constexpr const char* k_group_usage =
    "usage: gregor group list\n"
    "       gregor group describe GROUP\n"
    "       gregor group delete GROUP...\n"
    "       gregor group reset-offsets GROUP --topic TOPIC (--to-earliest|--to-latest|--to-offset N) [--execute]\n"
    "common: -b/--bootstrap-server HOST:PORT, --format table|json\n";

template <class Fn>
int guarded(Fn fn) {
  try {
    return fn();
  } catch (const cli_error& e) {
    std::fprintf(stderr, "gregor: %s\n", e.message.c_str());
    return e.exit_code;
  }
}

}  // namespace

int cmd_cluster(const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.empty() || args[0] != "info") {
      std::fputs("usage: gregor cluster info [-b HOST:PORT] [--format table|json]\n", stderr);
      return 2;
    }
    return cluster_info(parse({args.begin() + 1, args.end()}, {}));
  });
}

int cmd_topic(const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.empty()) {
      std::fputs(k_topic_usage, stderr);
      return 2;
    }
    std::vector<std::string> rest(args.begin() + 1, args.end());
    const std::string& sub = args[0];
    if (sub == "list") return topic_list(parse(rest, {}, {"--include-internal"}));
    if (sub == "describe") return topic_describe(parse(rest, {}, {"--all-configs"}));
    if (sub == "create")
      return topic_create(parse(rest, {"--partitions", "--replication-factor", "--config"}, {"--validate-only"}));
    if (sub == "delete") return topic_delete(parse(rest, {}));
    if (sub == "alter") return topic_alter(parse(rest, {"--partitions", "--config", "--delete-config"}));
    std::fprintf(stderr, "gregor: unknown topic command '%s'\n%s", sub.c_str(), k_topic_usage);
    return 2;
  });
}

int cmd_group(const std::vector<std::string>& args) {
  return guarded([&] {
    if (args.empty()) {
      std::fputs(k_group_usage, stderr);
      return 2;
    }
    std::vector<std::string> rest(args.begin() + 1, args.end());
    const std::string& sub = args[0];
    if (sub == "list") return group_list(parse(rest, {}));
    if (sub == "describe") return group_describe(parse(rest, {}));
    if (sub == "delete") return group_delete(parse(rest, {}));
    if (sub == "reset-offsets")
      return group_reset_offsets(
          parse(rest, {"--topic", "--to-offset"}, {"--to-earliest", "--to-latest", "--execute", "--dry-run"}));
    std::fprintf(stderr, "gregor: unknown group command '%s'\n%s", sub.c_str(), k_group_usage);
    return 2;
  });
}

}  // namespace gregor::app
