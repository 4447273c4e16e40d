#include "single_node_controller.h"

#include <functional>

#include "security_rules.h"

#include <fmt/format.h>

#include "active_controller.h"
#include "core.h"
#include "gregor/controller/quorum_controller.h"
#include "handlers/topic_errors.h"

namespace gregor::server {
namespace {

admin_error to_admin(const controller::controller_error& e) { return admin_error{to_kafka(e.code), e.message}; }

// Replica lists must name registered brokers, once each, the same count for every partition.
std::string check_assignments(const controller::metadata_image& img,
                              const std::vector<std::vector<node_id>>& assignments) {
  for (const auto& replicas : assignments) {
    if (replicas.empty()) return "a replica list is empty";
    if (replicas.size() != assignments.front().size()) return "every partition needs the same replica count";
    for (size_t i = 0; i < replicas.size(); ++i) {
      if (!img.brokers().contains(replicas[i])) return fmt::format("broker {} is not registered", replicas[i]);
      for (size_t j = 0; j < i; ++j)
        if (replicas[j] == replicas[i]) return "duplicate broker in a replica list";
    }
  }
  return "";
}

// Reassignments and elections on a single node are decided by the same rules as in a cluster
// (controller::quorum_controller, on a copy of the image). With one broker every valid request is
// a no-op: the only broker already holds every replica and leads every partition.
std::vector<partition_outcome> decided_without_change(const std::vector<controller::partition_result>& results,
                                                      bool changed) {
  std::vector<partition_outcome> out;
  for (const auto& r : results) {
    auto& o = out.emplace_back(partition_outcome{r.topic, r.partition, std::nullopt});
    if (r.error) o.error = admin_error{to_kafka(r.error->code), r.error->message};
    else if (changed) o.error = admin_error{protocol::error_code::invalid_request, "a single node cannot change this"};
  }
  return out;
}

}  // namespace

controller_client::outcome<std::vector<partition_outcome>> single_node_controller::alter_partition_reassignments(
    std::vector<reassignment> items) {
  controller::quorum_controller qc{controller::quorum_controller_settings{}};
  qc.activate(_core.image(), 0);
  std::vector<controller::reassignment_request> reqs;
  for (auto& i : items) reqs.push_back(controller::reassignment_request{i.topic, i.partition, i.target});
  auto d = qc.alter_partition_reassignments(reqs);
  co_return decided_without_change(d.reply, !d.records.empty());
}

controller_client::outcome<std::vector<partition_outcome>> single_node_controller::elect_leaders(
    election_kind kind, std::optional<partition_list> partitions) {
  controller::quorum_controller qc{controller::quorum_controller_settings{}};
  qc.activate(_core.image(), 0);
  auto d = qc.elect_leaders(static_cast<controller::election_type>(kind), partitions);
  co_return decided_without_change(d.reply, !d.records.empty());
}

controller_client::outcome<created_topic> single_node_controller::create_topic(topic_spec spec,
                                                                               bool validate_only,
                                                                               mutation_requester*) {
  if (!spec.assignments.empty()) {
    if (auto bad = check_assignments(_core.image(), spec.assignments); !bad.empty())
      co_return failure{admin_error{protocol::error_code::invalid_replica_assignment, bad}};
    spec.partitions = int32_t(spec.assignments.size());
    spec.replication_factor = int16_t(spec.assignments.front().size());
  }
  auto r = _core.metadata().create_topic(spec.name, spec.partitions, spec.replication_factor,
                                         spec.configs, validate_only);
  if (!r) co_return failure{to_admin(r.error())};
  created_topic out{validate_only ? uuid{} : (*r)->id, spec.partitions, spec.replication_factor};
  if (!validate_only) _core.apply_metadata();
  co_return out;
}

controller_client::outcome<void> single_node_controller::delete_topic(std::string name, mutation_requester*) {
  auto r = _core.metadata().delete_topic(name);
  if (!r) co_return failure{to_admin(r.error())};
  _core.apply_metadata();
  co_return ok;
}

controller_client::outcome<void> single_node_controller::create_partitions(
    std::string name, int32_t total, std::vector<std::vector<node_id>> assignments, bool validate_only,
    mutation_requester*) {
  if (auto bad = check_assignments(_core.image(), assignments); !bad.empty())
    co_return failure{admin_error{protocol::error_code::invalid_replica_assignment, bad}};
  auto r = _core.metadata().create_partitions(name, total, validate_only);
  if (!r) co_return failure{to_admin(r.error())};
  if (!validate_only) _core.apply_metadata();
  co_return ok;
}

controller_client::outcome<void> single_node_controller::alter_topic_configs(std::string name,
                                                                             config_changes changes) {
  auto r = _core.metadata().set_topic_configs(name, std::move(changes));
  if (!r) co_return failure{to_admin(r.error())};
  _core.apply_metadata();
  co_return ok;
}

controller_client::outcome<void> single_node_controller::alter_broker_configs(std::string resource,
                                                                              config_changes changes) {
  auto r = _core.metadata().set_broker_configs(resource, std::move(changes));
  if (!r) co_return failure{to_admin(r.error())};
  _core.apply_metadata();
  co_return ok;
}

// Decided by the cluster's rules on a copy of the image, then written to this node's log.
controller_client::outcome<void> single_node_controller::update_features(std::vector<feature_change> changes,
                                                                         bool validate_only) {
  controller::quorum_controller qc{controller::quorum_controller_settings{}};
  qc.activate(_core.image(), 0);
  const auto updates = to_feature_updates(std::move(changes));
  auto d = qc.update_features(updates, validate_only);
  if (!d) co_return failure{to_admin(d.error())};
  std::vector<protocol::metadata::feature_level_record> records;
  for (auto& r : d->records)
    if (auto* f = std::get_if<protocol::metadata::feature_level_record>(&r.message)) records.push_back(std::move(*f));
  if (records.empty()) co_return ok;
  auto w = _core.metadata().set_feature_levels(std::move(records));
  if (!w) co_return failure{to_admin(w.error())};
  _core.apply_metadata();
  co_return ok;
}

namespace {
// A decision taken by the cluster's rules on a copy of this node's image, written to its log.
template <class T>
controller_client::outcome<T> decide_locally(core& c, std::function<controller::decision<T>(controller::quorum_controller&)> decide) {
  controller::quorum_controller qc{controller::quorum_controller_settings{}};
  qc.activate(c.image(), 0);
  controller::decision<T> d = decide(qc);
  auto w = c.metadata().commit_records(d.records);
  if (!w) co_return failure{to_admin(w.error())};
  if (!d.records.empty()) c.apply_metadata();
  co_return std::move(d.reply);
}
}  // namespace

controller_client::outcome<void> single_node_controller::create_acls(std::vector<controller::acl_entry> acls) {
  std::function<controller::decision<bool>(controller::quorum_controller&)> decide =
      [&acls](controller::quorum_controller& qc) { return qc.create_acls(acls, [] { return uuid::random(); }); };
  auto r = co_await decide_locally<bool>(_core, decide);
  if (!r) co_return failure{r.error()};
  co_return ok;
}

controller_client::outcome<std::vector<std::vector<controller::acl_entry>>> single_node_controller::delete_acls(
    std::vector<acl_filter> filters) {
  const auto predicates = acl_filter_predicates(filters);
  std::function<controller::decision<std::vector<std::vector<controller::acl_entry>>>(controller::quorum_controller&)>
      decide = [&predicates](controller::quorum_controller& qc) { return qc.delete_acls(predicates); };
  co_return co_await decide_locally<std::vector<std::vector<controller::acl_entry>>>(_core, decide);
}

controller_client::outcome<std::vector<std::optional<admin_error>>> single_node_controller::alter_scram_credentials(
    std::vector<scram_alteration> changes) {
  const auto scram = to_scram_changes(changes);
  std::function<controller::decision<std::vector<std::optional<controller::controller_error>>>(
      controller::quorum_controller&)>
      decide = [&scram](controller::quorum_controller& qc) { return qc.alter_scram_credentials(scram); };
  auto r = co_await decide_locally<std::vector<std::optional<controller::controller_error>>>(_core, decide);
  if (!r) co_return failure{r.error()};
  std::vector<std::optional<admin_error>> out;
  for (const auto& e : *r) out.push_back(e ? std::optional<admin_error>(to_admin(*e)) : std::nullopt);
  co_return out;
}

controller_client::outcome<std::vector<quota_outcome>> single_node_controller::alter_client_quotas(
    std::vector<quota_alteration> entries, bool validate_only) {
  using reply_t = std::vector<controller::quorum_controller::quota_result>;
  std::function<controller::decision<reply_t>(controller::quorum_controller&)> decide =
      [&entries, validate_only](controller::quorum_controller& qc) {
        return qc.alter_client_quotas(entries, validate_only);
      };
  auto r = co_await decide_locally<reply_t>(_core, decide);
  if (!r) co_return failure{r.error()};
  co_return to_quota_outcomes(*r);
}

controller_client::outcome<producer_id_range> single_node_controller::allocate_producer_ids(node_id broker,
                                                                                            int32_t count) {
  auto r = _core.metadata().allocate_producer_ids(broker, count);
  if (!r) co_return failure{to_admin(r.error())};
  co_return producer_id_range{r->first, r->size};
}

}  // namespace gregor::server
