#include "cluster_controller_client.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/allocate_producer_ids.h"
#include "gregor/protocol/messages/create_partitions.h"
#include "gregor/protocol/messages/create_topics.h"
#include "gregor/protocol/messages/alter_partition_reassignments.h"
#include "gregor/protocol/messages/delete_topics.h"
#include "gregor/protocol/messages/elect_leaders.h"
#include "gregor/protocol/messages/incremental_alter_configs.h"
#include "gregor/protocol/messages/update_features.h"
#include "gregor/protocol/messages/create_acls.h"
#include "gregor/protocol/messages/delete_acls.h"
#include "gregor/protocol/messages/alter_user_scram_credentials.h"
#include "gregor/protocol/messages/alter_client_quotas.h"
#include "gregor/protocol/messages/envelope.h"
#include "envelope_codec.h"

namespace gregor::server {
namespace asio = boost::asio;
using protocol::error_code;
namespace {

spdlog::logger& lg() { return log::get("cluster"); }

admin_error not_controller() {
  return admin_error{error_code::not_controller, "this node is not the active controller"};
}

// How an answer says "I am not the controller" (the request goes to the next one): its top-level
// error code, or any entry of its result list (a controller that is not active refuses them all).
template <class Resp>
std::function<bool(const Resp&)> not_controller_at_top() {
  return [](const Resp& r) { return r.error_code == protocol::code_of(error_code::not_controller); };
}
template <class Resp, class List>
std::function<bool(const Resp&)> not_controller_in(List Resp::*list) {
  return [list](const Resp& r) {
    for (const auto& e : r.*list)
      if (e.error_code == protocol::code_of(error_code::not_controller)) return true;
    return false;
  };
}

admin_error from_wire(int16_t code, const std::optional<std::string>& message) {
  auto e = static_cast<error_code>(code);
  return admin_error{e, message.value_or(std::string(protocol::error_name(e)))};
}

constexpr int64_t retry_backoff_ms = 100;
// After the controller committed a change, how long to wait for it to reach this broker's image.
constexpr int64_t propagation_timeout_ms = 10000;

asio::awaitable<void> sleep_ms(int64_t ms) {
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

// ---- active_only_controller_client ----

controller_client::outcome<created_topic> active_only_controller_client::create_topic(topic_spec spec,
                                                                                      bool validate_only,
                                                                                      mutation_requester*) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->create_topic(std::move(spec), validate_only);
}

controller_client::outcome<void> active_only_controller_client::delete_topic(std::string name, mutation_requester*) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->delete_topic(std::move(name));
}

controller_client::outcome<void> active_only_controller_client::create_partitions(
    std::string name, int32_t total, std::vector<std::vector<node_id>> assignments, bool validate_only,
    mutation_requester*) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->create_partitions(std::move(name), total, std::move(assignments), validate_only);
}

controller_client::outcome<void> active_only_controller_client::alter_topic_configs(std::string name,
                                                                                    config_changes changes) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->alter_configs(controller::config_resource_topic, std::move(name), std::move(changes));
}

controller_client::outcome<void> active_only_controller_client::alter_broker_configs(std::string resource,
                                                                                     config_changes changes) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->alter_configs(controller::config_resource_broker, std::move(resource),
                                            std::move(changes));
}

controller_client::outcome<producer_id_range> active_only_controller_client::allocate_producer_ids(node_id, int32_t) {
  co_return failure{admin_error{error_code::invalid_request, "producer ids are allocated through AllocateProducerIds"}};
}

controller_client::outcome<std::vector<partition_outcome>> active_only_controller_client::alter_partition_reassignments(
    std::vector<reassignment> items) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->alter_partition_reassignments(std::move(items));
}

controller_client::outcome<std::vector<partition_outcome>> active_only_controller_client::elect_leaders(
    election_kind kind, std::optional<partition_list> partitions) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->elect_leaders(kind, std::move(partitions));
}

controller_client::outcome<void> active_only_controller_client::update_features(std::vector<feature_change> changes,
                                                                                bool validate_only) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->update_features(std::move(changes), validate_only);
}

controller_client::outcome<void> active_only_controller_client::create_acls(std::vector<controller::acl_entry> acls) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->create_acls(std::move(acls));
}

controller_client::outcome<std::vector<std::vector<controller::acl_entry>>> active_only_controller_client::delete_acls(
    std::vector<acl_filter> filters) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->delete_acls(std::move(filters));
}

controller_client::outcome<std::vector<std::optional<admin_error>>>
active_only_controller_client::alter_scram_credentials(std::vector<scram_alteration> changes) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->alter_scram_credentials(std::move(changes));
}

controller_client::outcome<std::vector<quota_outcome>> active_only_controller_client::alter_client_quotas(
    std::vector<quota_alteration> entries, bool validate_only) {
  if (!_active) co_return failure{not_controller()};
  co_return co_await _active->alter_client_quotas(std::move(entries), validate_only);
}

// ---- forwarding_controller_client ----

bool forwarding_controller_client::local_active() const { return _local && _local->serves_here(); }

template <class Req, class Resp>
asio::awaitable<result<Resp, admin_error>> forwarding_controller_client::send(
    const Req& req, std::function<bool(const Resp&)> is_not_controller, mutation_requester* who) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(controller_request_timeout_ms);
  auto remaining = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
  };
  // On a client's behalf: the request at the client's version and with its client id, in an
  // Envelope with its principal and address (handlers/envelope.cc unwraps it).
  std::optional<protocol::envelope_request> envelope;
  if (who) {
    envelope.emplace();
    envelope->request_data = protocol::encode_request(req, who->version, 0, who->client_id);
    envelope->request_principal = encode_principal_data(who->principal);
    envelope->client_host_address = encode_host_address(who->host);
  }
  std::string last = "no active controller is known";
  while (remaining() > 0) {
    auto leader = _quorum.leader();
    if (!leader) {
      co_await sleep_ms(retry_backoff_ms);
      continue;
    }
    // (This node itself when it leads but its controller is not active yet: its controller
    // listener answers NOT_CONTROLLER until it is.)
    rpc::call_options opts;
    opts.timeout_ms = remaining();
    result<Resp, rpc::rpc_error> r = failure{rpc::rpc_error{}};
    if (!envelope) {
      r = co_await _quorum.controllers().call<Req, Resp>(*leader, req, opts);
    } else {
      auto e = co_await _quorum.controllers().call<protocol::envelope_request, protocol::envelope_response>(
          *leader, *envelope, opts);
      if (!e) {
        r = failure{e.error()};
      } else if (e->error_code == protocol::code_of(error_code::not_controller)) {
        last = fmt::format("node {} is no longer the active controller", leader->value());
        co_await sleep_ms(retry_backoff_ms);
        continue;
      } else if (e->error_code != 0 || !e->response_data) {
        co_return failure{from_wire(e->error_code != 0 ? e->error_code : protocol::code_of(error_code::unknown_server_error),
                                    std::string("the controller refused the forwarded request"))};
      } else {
        // The inner response: header (correlation id, tagged fields when flexible), then the body.
        protocol::reader in(*e->response_data);
        in.read_int32();
        if (protocol::response_header_version(Req::api_key, who->version) >= 1) in.skip_tagged_fields();
        Resp inner;
        inner.decode(in, who->version);
        if (!in.ok())
          co_return failure{admin_error{error_code::unknown_server_error,
                                        "malformed response in the controller's Envelope: " + in.error()}};
        r = std::move(inner);
      }
    }
    if (!r) {
      last = fmt::format("controller {}: {}", leader->value(), r.error().message);
      lg().debug("forwarding to the controller failed: {}", last);
      co_await sleep_ms(retry_backoff_ms);
      continue;
    }
    if (is_not_controller(*r)) {
      last = fmt::format("node {} is no longer the active controller", leader->value());
      co_await sleep_ms(retry_backoff_ms);
      continue;
    }
    if constexpr (requires(const Resp& x) { x.throttle_time_ms; }) {
      if (who) who->throttle_ms = std::max(who->throttle_ms, r->throttle_time_ms);
    }
    co_return std::move(*r);
  }
  co_return failure{admin_error{error_code::request_timed_out, "the controller did not answer in time: " + last}};
}

controller_client::outcome<created_topic> forwarding_controller_client::create_topic(topic_spec spec,
                                                                                     bool validate_only,
                                                                                     mutation_requester* who) {
  if (local_active()) co_return co_await _local->create_topic(std::move(spec), validate_only);
  protocol::create_topics_request req;
  req.timeout_ms = int32_t(controller_request_timeout_ms);
  req.validate_only = validate_only;
  auto& t = req.topics.emplace_back();
  t.name = spec.name;
  if (spec.assignments.empty()) {
    t.num_partitions = spec.partitions;
    t.replication_factor = spec.replication_factor;
  } else {
    t.num_partitions = -1;
    t.replication_factor = -1;
    for (size_t i = 0; i < spec.assignments.size(); ++i) {
      auto& a = t.assignments.emplace_back();
      a.partition_index = int32_t(i);
      for (auto b : spec.assignments[i]) a.broker_ids.push_back(b.value());
    }
  }
  for (const auto& [k, v] : spec.configs) t.configs.push_back({k, v, {}});
  auto not_controller_answer = not_controller_in(&protocol::create_topics_response::topics);
  auto r = co_await send<protocol::create_topics_request, protocol::create_topics_response>(req, not_controller_answer, who);
  if (!r) co_return failure{r.error()};
  if (r->topics.empty()) co_return failure{admin_error{error_code::unknown_server_error, "empty CreateTopics response"}};
  const auto& res = r->topics[0];
  if (res.error_code != 0) co_return failure{from_wire(res.error_code, res.error_message)};
  created_topic out{res.topic_id, res.num_partitions, res.replication_factor};
  if (!validate_only) {
    const uuid id = res.topic_id;
    const std::string name = spec.name;
    std::function<bool()> shows_change = [this, id, name] {
      const auto* t = _quorum.image().topic(name);
      return t && (id.is_zero() || t->id == id);
    };
    co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  }
  co_return out;
}

controller_client::outcome<void> forwarding_controller_client::delete_topic(std::string name, mutation_requester* who) {
  if (local_active()) co_return co_await _local->delete_topic(std::move(name));
  const auto* before = _quorum.image().topic(name);
  const uuid old_id = before ? before->id : uuid{};
  protocol::delete_topics_request req;
  req.timeout_ms = int32_t(controller_request_timeout_ms);
  req.topic_names.push_back(name);
  auto& t = req.topics.emplace_back();
  t.name = name;
  auto not_controller_answer = not_controller_in(&protocol::delete_topics_response::responses);
  auto r = co_await send<protocol::delete_topics_request, protocol::delete_topics_response>(req, not_controller_answer, who);
  if (!r) co_return failure{r.error()};
  if (r->responses.empty()) co_return failure{admin_error{error_code::unknown_server_error, "empty DeleteTopics response"}};
  if (r->responses[0].error_code != 0)
    co_return failure{from_wire(r->responses[0].error_code, r->responses[0].error_message)};
  std::function<bool()> shows_change = [this, name, old_id] {
    const auto* t = _quorum.image().topic(name);
    return !t || t->id != old_id;
  };
  co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  co_return ok;
}

controller_client::outcome<void> forwarding_controller_client::create_partitions(
    std::string name, int32_t total, std::vector<std::vector<node_id>> assignments, bool validate_only,
    mutation_requester* who) {
  if (local_active())
    co_return co_await _local->create_partitions(std::move(name), total, std::move(assignments), validate_only);
  protocol::create_partitions_request req;
  req.timeout_ms = int32_t(controller_request_timeout_ms);
  req.validate_only = validate_only;
  auto& t = req.topics.emplace_back();
  t.name = name;
  t.count = total;
  if (!assignments.empty()) {
    t.assignments.emplace();
    for (const auto& replicas : assignments) {
      auto& a = t.assignments->emplace_back();
      for (auto b : replicas) a.broker_ids.push_back(b.value());
    }
  }
  auto not_controller_answer = not_controller_in(&protocol::create_partitions_response::results);
  auto r = co_await send<protocol::create_partitions_request, protocol::create_partitions_response>(req, not_controller_answer, who);
  if (!r) co_return failure{r.error()};
  if (r->results.empty()) co_return failure{admin_error{error_code::unknown_server_error, "empty CreatePartitions response"}};
  if (r->results[0].error_code != 0) co_return failure{from_wire(r->results[0].error_code, r->results[0].error_message)};
  if (!validate_only) {
    std::function<bool()> shows_change = [this, name, total] {
      const auto* t = _quorum.image().topic(name);
      return !t || int32_t(t->partitions.size()) >= total;
    };
    co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  }
  co_return ok;
}

controller_client::outcome<void> forwarding_controller_client::alter_configs(int8_t type, std::string name,
                                                                             config_changes changes) {
  protocol::incremental_alter_configs_request req;
  auto& res = req.resources.emplace_back();
  res.resource_type = type;
  res.resource_name = name;
  for (const auto& [k, v] : changes) {
    auto& c = res.configs.emplace_back();
    c.name = k;
    c.config_operation = v ? 0 : 1;  // SET : DELETE
    c.value = v;
  }
  auto not_controller_answer = not_controller_in(&protocol::incremental_alter_configs_response::responses);
  auto r = co_await send<protocol::incremental_alter_configs_request, protocol::incremental_alter_configs_response>(req, not_controller_answer);
  if (!r) co_return failure{r.error()};
  if (r->responses.empty()) co_return failure{admin_error{error_code::unknown_server_error, "empty IncrementalAlterConfigs response"}};
  if (r->responses[0].error_code != 0)
    co_return failure{from_wire(r->responses[0].error_code, r->responses[0].error_message)};
  std::function<bool()> shows_change = [this, type, name, changes] {
    const std::map<std::string, std::string>* now = nullptr;
    if (type == controller::config_resource_topic) {
      const auto* t = _quorum.image().topic(name);
      if (!t) return true;
      now = &t->configs;
    } else {
      now = &_quorum.image().broker_configs(name);
    }
    for (const auto& [k, v] : changes) {
      auto it = now->find(k);
      if (v ? (it == now->end() || it->second != *v) : it != now->end()) return false;
    }
    return true;
  };
  co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  co_return ok;
}

controller_client::outcome<void> forwarding_controller_client::alter_topic_configs(std::string name,
                                                                                   config_changes changes) {
  if (local_active())
    co_return co_await _local->alter_configs(controller::config_resource_topic, std::move(name), std::move(changes));
  co_return co_await alter_configs(controller::config_resource_topic, std::move(name), std::move(changes));
}

controller_client::outcome<void> forwarding_controller_client::alter_broker_configs(std::string resource,
                                                                                    config_changes changes) {
  if (local_active())
    co_return co_await _local->alter_configs(controller::config_resource_broker, std::move(resource),
                                             std::move(changes));
  co_return co_await alter_configs(controller::config_resource_broker, std::move(resource), std::move(changes));
}

controller_client::outcome<producer_id_range> forwarding_controller_client::allocate_producer_ids(node_id broker,
                                                                                                 int32_t count) {
  // The broker must be registered: its epoch proves which incarnation asks.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(controller_request_timeout_ms);
  while (_broker_epoch() < 0 && std::chrono::steady_clock::now() < deadline) co_await sleep_ms(retry_backoff_ms);
  const int64_t epoch = _broker_epoch();
  if (epoch < 0) co_return failure{admin_error{error_code::broker_not_available, "this broker is not registered yet"}};
  if (local_active()) co_return co_await _local->allocate_producer_ids(broker, epoch, count);
  protocol::allocate_producer_ids_request req;
  req.broker_id = broker.value();
  req.broker_epoch = epoch;
  auto not_controller_answer = not_controller_at_top<protocol::allocate_producer_ids_response>();
  auto r = co_await send<protocol::allocate_producer_ids_request, protocol::allocate_producer_ids_response>(req, not_controller_answer);
  if (!r) co_return failure{r.error()};
  if (r->error_code != 0) co_return failure{from_wire(r->error_code, std::nullopt)};
  co_return producer_id_range{r->producer_id_start, r->producer_id_len};
}

controller_client::outcome<std::vector<partition_outcome>> forwarding_controller_client::alter_partition_reassignments(
    std::vector<reassignment> items) {
  if (local_active()) co_return co_await _local->alter_partition_reassignments(std::move(items));
  protocol::alter_partition_reassignments_request req;
  req.timeout_ms = int32_t(controller_request_timeout_ms);
  for (const auto& i : items) {
    if (req.topics.empty() || req.topics.back().name != i.topic) req.topics.emplace_back().name = i.topic;
    auto& p = req.topics.back().partitions.emplace_back();
    p.partition_index = i.partition;
    if (i.target) {
      p.replicas.emplace();
      for (node_id b : *i.target) p.replicas->push_back(b.value());
    }
  }
  auto not_controller_answer = not_controller_at_top<protocol::alter_partition_reassignments_response>();
  auto r = co_await send<protocol::alter_partition_reassignments_request,
                         protocol::alter_partition_reassignments_response>(req, not_controller_answer);
  if (!r) co_return failure{r.error()};
  if (r->error_code != 0) co_return failure{from_wire(r->error_code, r->error_message)};
  std::vector<partition_outcome> out;
  for (const auto& t : r->responses)
    for (const auto& p : t.partitions) {
      auto& o = out.emplace_back(partition_outcome{t.name, p.partition_index, std::nullopt});
      if (p.error_code != 0) o.error = from_wire(p.error_code, p.error_message);
    }
  // Answer once this broker's image shows every accepted change.
  std::vector<reassignment> accepted;
  for (const auto& i : items)
    for (const auto& o : out)
      if (o.topic == i.topic && o.partition == i.partition && !o.error) accepted.push_back(i);
  std::function<bool()> shows_change = [this, accepted] {
    for (const auto& i : accepted) {
      const auto* t = _quorum.image().topic(i.topic);
      if (!t || size_t(i.partition) >= t->partitions.size()) continue;
      const auto& p = t->partitions[size_t(i.partition)];
      if (!i.target) {
        if (!p.adding_replicas.empty()) return false;
        continue;
      }
      for (node_id b : *i.target)
        if (std::find(p.replicas.begin(), p.replicas.end(), b) == p.replicas.end()) return false;
    }
    return true;
  };
  co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  co_return out;
}

controller_client::outcome<std::vector<partition_outcome>> forwarding_controller_client::elect_leaders(
    election_kind kind, std::optional<partition_list> partitions) {
  if (local_active()) co_return co_await _local->elect_leaders(kind, std::move(partitions));
  protocol::elect_leaders_request req;
  req.election_type = int8_t(kind);
  req.timeout_ms = int32_t(controller_request_timeout_ms);
  if (partitions) {
    req.topic_partitions.emplace();
    for (const auto& [topic, partition] : *partitions) {
      if (req.topic_partitions->empty() || req.topic_partitions->back().topic != topic)
        req.topic_partitions->emplace_back().topic = topic;
      req.topic_partitions->back().partitions.push_back(partition);
    }
  }
  auto not_controller_answer = not_controller_at_top<protocol::elect_leaders_response>();
  auto r = co_await send<protocol::elect_leaders_request, protocol::elect_leaders_response>(req, not_controller_answer);
  if (!r) co_return failure{r.error()};
  if (r->error_code != 0) co_return failure{from_wire(r->error_code, std::nullopt)};
  std::vector<partition_outcome> out;
  for (const auto& t : r->replica_election_results)
    for (const auto& p : t.partition_result) {
      auto& o = out.emplace_back(partition_outcome{t.topic, p.partition_id, std::nullopt});
      if (p.error_code != 0) o.error = from_wire(p.error_code, p.error_message);
    }
  std::vector<std::pair<std::string, int32_t>> elected;
  for (const auto& o : out)
    if (!o.error) elected.emplace_back(o.topic, o.partition);
  std::function<bool()> shows_change = [this, elected, kind] {
    for (const auto& [topic, partition] : elected) {
      const auto* t = _quorum.image().topic(topic);
      if (!t || size_t(partition) >= t->partitions.size()) continue;
      const auto& p = t->partitions[size_t(partition)];
      if (kind == election_kind::preferred ? (p.replicas.empty() || p.leader != p.replicas.front())
                                           : p.leader == no_node)
        return false;
    }
    return true;
  };
  co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  co_return out;
}

controller_client::outcome<void> forwarding_controller_client::update_features(std::vector<feature_change> changes,
                                                                                bool validate_only) {
  if (local_active()) co_return co_await _local->update_features(std::move(changes), validate_only);
  protocol::update_features_request req;
  req.timeout_ms = int32_t(controller_request_timeout_ms);
  req.validate_only = validate_only;
  for (const auto& c : changes) {
    auto& u = req.feature_updates.emplace_back();
    u.feature = c.feature;
    u.max_version_level = c.level;
    u.upgrade_type = c.upgrade_type;
  }
  auto not_controller_answer = not_controller_at_top<protocol::update_features_response>();
  auto r = co_await send<protocol::update_features_request, protocol::update_features_response>(req, not_controller_answer);
  if (!r) co_return failure{r.error()};
  if (r->error_code != 0) co_return failure{from_wire(r->error_code, r->error_message)};
  if (!validate_only) {
    std::function<bool()> shows_change = [this, changes] {
      for (const auto& c : changes) {
        auto it = _quorum.image().features().find(c.feature);
        if ((it == _quorum.image().features().end() ? 0 : it->second) != c.level) return false;
      }
      return true;
    };
    co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  }
  co_return ok;
}

controller_client::outcome<void> forwarding_controller_client::create_acls(std::vector<controller::acl_entry> acls) {
  if (local_active()) co_return co_await _local->create_acls(std::move(acls));
  protocol::create_acls_request req;
  for (const auto& a : acls) {
    auto& c = req.creations.emplace_back();
    c.resource_type = a.resource_type;
    c.resource_name = a.resource_name;
    c.resource_pattern_type = a.pattern_type;
    c.principal = a.principal;
    c.host = a.host;
    c.operation = a.operation;
    c.permission_type = a.permission_type;
  }
  auto not_controller_answer = not_controller_in(&protocol::create_acls_response::results);
  auto r = co_await send<protocol::create_acls_request, protocol::create_acls_response>(req, not_controller_answer);
  if (!r) co_return failure{r.error()};
  for (const auto& res : r->results)
    if (res.error_code != 0) co_return failure{from_wire(res.error_code, res.error_message)};
  std::function<bool()> shows_change = [this, acls] {
    for (const auto& a : acls) {
      bool found = false;
      for (const auto& [id, e] : _quorum.image().acls())
        if (e.resource_type == a.resource_type && e.resource_name == a.resource_name &&
            e.pattern_type == a.pattern_type && e.principal == a.principal && e.host == a.host &&
            e.operation == a.operation && e.permission_type == a.permission_type)
          found = true;
      if (!found) return false;
    }
    return true;
  };
  co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  co_return ok;
}

controller_client::outcome<std::vector<std::vector<controller::acl_entry>>> forwarding_controller_client::delete_acls(
    std::vector<acl_filter> filters) {
  if (local_active()) co_return co_await _local->delete_acls(std::move(filters));
  protocol::delete_acls_request req;
  for (const auto& f : filters) {
    auto& w = req.filters.emplace_back();
    w.resource_type_filter = f.resource_type;
    w.resource_name_filter = f.resource_name;
    w.pattern_type_filter = f.pattern_type;
    w.principal_filter = f.principal;
    w.host_filter = f.host;
    w.operation = f.operation;
    w.permission_type = f.permission_type;
  }
  auto not_controller_answer = not_controller_in(&protocol::delete_acls_response::filter_results);
  auto r = co_await send<protocol::delete_acls_request, protocol::delete_acls_response>(req, not_controller_answer);
  if (!r) co_return failure{r.error()};
  std::vector<std::vector<controller::acl_entry>> out;
  for (const auto& fr : r->filter_results) {
    if (fr.error_code != 0) co_return failure{from_wire(fr.error_code, fr.error_message)};
    auto& matched = out.emplace_back();
    for (const auto& m : fr.matching_acls)
      matched.push_back(controller::acl_entry{uuid{}, m.resource_type, m.resource_name, m.pattern_type, m.principal,
                                              m.host, m.operation, m.permission_type});
  }
  std::function<bool()> shows_change = [this, out] {
    for (const auto& matched : out)
      for (const auto& a : matched)
        for (const auto& [id, e] : _quorum.image().acls())
          if (e.resource_type == a.resource_type && e.resource_name == a.resource_name &&
              e.pattern_type == a.pattern_type && e.principal == a.principal && e.host == a.host &&
              e.operation == a.operation && e.permission_type == a.permission_type)
            return false;
    return true;
  };
  co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  co_return out;
}

controller_client::outcome<std::vector<std::optional<admin_error>>>
forwarding_controller_client::alter_scram_credentials(std::vector<scram_alteration> changes) {
  if (local_active()) co_return co_await _local->alter_scram_credentials(std::move(changes));
  // One change per request keeps the answer per change (the response has one result per user).
  std::vector<std::optional<admin_error>> out;
  for (const auto& c : changes) {
    protocol::alter_user_scram_credentials_request req;
    if (c.remove) {
      auto& d = req.deletions.emplace_back();
      d.name = c.user;
      d.mechanism = c.mechanism;
    } else {
      auto& u = req.upsertions.emplace_back();
      u.name = c.user;
      u.mechanism = c.mechanism;
      u.iterations = c.iterations;
      u.salt = c.salt;
      u.salted_password = c.salted_password;
    }
    auto not_controller_answer = not_controller_in(&protocol::alter_user_scram_credentials_response::results);
    auto r = co_await send<protocol::alter_user_scram_credentials_request,
                           protocol::alter_user_scram_credentials_response>(req, not_controller_answer);
    if (!r) co_return failure{r.error()};
    if (!r->results.empty() && r->results[0].error_code != 0) {
      out.push_back(from_wire(r->results[0].error_code, r->results[0].error_message));
      continue;
    }
    out.push_back(std::nullopt);
    std::function<bool()> shows_change = [this, c] {
      auto it = _quorum.image().scram_credentials().find(c.user);
      const bool has = it != _quorum.image().scram_credentials().end() && it->second.contains(c.mechanism);
      return c.remove ? !has : has;
    };
    co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  }
  co_return out;
}

controller_client::outcome<std::vector<quota_outcome>> forwarding_controller_client::alter_client_quotas(
    std::vector<quota_alteration> entries, bool validate_only) {
  if (local_active()) co_return co_await _local->alter_client_quotas(std::move(entries), validate_only);
  protocol::alter_client_quotas_request req;
  req.validate_only = validate_only;
  for (const auto& e : entries) {
    auto& w = req.entries.emplace_back();
    for (const auto& [type, name] : e.entity) {
      auto& d = w.entity.emplace_back();
      d.entity_type = type;
      d.entity_name = name;
    }
    for (const auto& op : e.ops) {
      auto& o = w.ops.emplace_back();
      o.key = op.key;
      o.value = op.value;
      o.remove = op.remove;
    }
  }
  auto not_controller_answer = not_controller_in(&protocol::alter_client_quotas_response::entries);
  auto r = co_await send<protocol::alter_client_quotas_request, protocol::alter_client_quotas_response>(
      req, not_controller_answer);
  if (!r) co_return failure{r.error()};
  std::vector<quota_outcome> out;
  for (const auto& res : r->entries) {
    auto& o = out.emplace_back();
    for (const auto& d : res.entity) o.entity.emplace_back(d.entity_type, d.entity_name);
    std::sort(o.entity.begin(), o.entity.end());
    if (res.error_code != 0) o.error = from_wire(res.error_code, res.error_message);
  }
  if (validate_only) co_return out;
  // Wait until this broker's image shows every accepted change.
  std::vector<std::pair<controller::quota_entity, controller::quorum_controller::quota_op>> expected;
  for (const auto& e : entries) {
    std::map<std::string, std::optional<std::string>> by_type(e.entity.begin(), e.entity.end());
    for (const auto& [type, name] : e.entity) by_type[type] = name;
    controller::quota_entity entity(by_type.begin(), by_type.end());
    bool accepted = false;
    for (const auto& o : out)
      if (o.entity == entity && !o.error) accepted = true;
    if (!accepted) continue;
    for (const auto& op : e.ops) expected.emplace_back(entity, op);
  }
  std::function<bool()> shows_change = [this, expected] {
    const auto& all = _quorum.image().client_quotas();
    for (const auto& [entity, op] : expected) {
      auto it = all.find(entity);
      const bool has = it != all.end() && it->second.contains(op.key);
      if (op.remove ? has : (!has || it->second.at(op.key) != op.value)) return false;
    }
    return true;
  };
  co_await _quorum.wait_for(shows_change, propagation_timeout_ms);
  co_return out;
}

}  // namespace gregor::server
