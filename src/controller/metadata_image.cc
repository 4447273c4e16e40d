#include "gregor/controller/metadata_image.h"

#include <algorithm>

#include <fmt/format.h>

namespace gregor::controller {

const topic_info* metadata_image::topic(std::string_view name) const {
  auto it = _topics.find(std::string(name));
  return it == _topics.end() ? nullptr : &it->second;
}

const topic_info* metadata_image::topic(uuid id) const {
  auto it = _names_by_id.find(id);
  return it == _names_by_id.end() ? nullptr : topic(it->second);
}

const std::map<std::string, std::string>& metadata_image::broker_configs(const std::string& resource) const {
  static const std::map<std::string, std::string> none;
  auto it = _broker_configs.find(resource);
  return it == _broker_configs.end() ? none : it->second;
}

void metadata_image::put_broker(broker_info b) {
  node_id id = b.id;
  _brokers[id] = std::move(b);
  ++_version;
}

std::vector<protocol::metadata::feature_level_record> bootstrap_features() {
  std::vector<protocol::metadata::feature_level_record> out(3);
  out[0].name = metadata_version_feature;
  out[0].feature_level = latest_metadata_version;
  out[1].name = group_version_feature;
  out[1].feature_level = 1;
  out[2].name = transaction_version_feature;
  out[2].feature_level = 2;
  return out;
}

std::string record_cluster_id(const protocol::metadata::feature_level_record& r) {
  for (const auto& t : r.unknown_tagged_fields)
    if (t.tag == cluster_id_tag) return std::string(t.data.begin(), t.data.end());
  return {};
}

void set_record_cluster_id(protocol::metadata::feature_level_record& r, std::string_view cluster_id) {
  std::erase_if(r.unknown_tagged_fields, [](const auto& t) { return t.tag == cluster_id_tag; });
  if (cluster_id.empty()) return;
  protocol::tagged_field t;
  t.tag = cluster_id_tag;
  t.data.assign(cluster_id.begin(), cluster_id.end());
  r.unknown_tagged_fields.push_back(std::move(t));
  std::sort(r.unknown_tagged_fields.begin(), r.unknown_tagged_fields.end(),
            [](const auto& a, const auto& b) { return a.tag < b.tag; });
}

// uuid::random is version 4 (never the zero or the reserved "one" uuid) and, as Kafka's
// Uuid.randomUuid, never has a '-' in its text.
std::string new_cluster_id() { return uuid::random().to_base64(); }

protocol::metadata::client_quota_record client_quota_record_for(const quota_entity& entity, std::string key) {
  protocol::metadata::client_quota_record r;
  for (const auto& [type, name] : entity) {
    auto& e = r.entity.emplace_back();
    e.entity_type = type;
    e.entity_name = name;
  }
  r.key = std::move(key);
  return r;
}

int16_t metadata_image::metadata_version() const {
  auto it = _features.find(metadata_version_feature);
  return it == _features.end() ? 0 : it->second;
}

namespace {
namespace md = protocol::metadata;

std::vector<node_id> ids(const std::vector<int32_t>& v) {
  std::vector<node_id> out;
  out.reserve(v.size());
  for (int32_t x : v) out.push_back(node_id(x));
  return out;
}
std::vector<int32_t> raw(const std::vector<node_id>& v) {
  std::vector<int32_t> out;
  out.reserve(v.size());
  for (node_id x : v) out.push_back(x.value());
  return out;
}
constexpr int32_t no_leader_change = -2;  // PartitionChangeRecord.Leader: leader unchanged
}  // namespace

std::string metadata_image::apply(const md::any_record& r) {
  auto find_mut = [&](const uuid& id) -> topic_info* {
    auto it = _names_by_id.find(id);
    if (it == _names_by_id.end()) return nullptr;
    auto t = _topics.find(it->second);
    return t == _topics.end() ? nullptr : &t->second;
  };
  std::string why = std::visit(
      [&](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, md::topic_record>) {
          if (_topics.count(x.name)) return fmt::format("topic '{}' already exists", x.name);
          if (x.topic_id.is_zero()) return fmt::format("topic '{}' has no id", x.name);
          if (_names_by_id.count(x.topic_id)) return fmt::format("topic id {} already in use", x.topic_id.to_base64());
          topic_info t;
          t.name = x.name;
          t.id = x.topic_id;
          t.internal = x.name == "__consumer_offsets" || x.name == "__transaction_state";
          _topics.emplace(x.name, std::move(t));
          _names_by_id.emplace(x.topic_id, x.name);
          return "";
        } else if constexpr (std::is_same_v<T, md::partition_record>) {
          topic_info* t = find_mut(x.topic_id);
          if (!t) return fmt::format("partition record for unknown topic id {}", x.topic_id.to_base64());
          const auto p = static_cast<size_t>(x.partition_id);
          if (x.partition_id < 0 || p > t->partitions.size())
            return fmt::format("partition {} of '{}' is not the next one ({})", x.partition_id, t->name,
                               t->partitions.size());
          if (x.replicas.empty()) return fmt::format("partition {} of '{}' has no replicas", x.partition_id, t->name);
          partition_info info;
          info.id = partition_id(x.partition_id);
          info.leader = node_id(x.leader);
          info.leader_epoch = leader_epoch(x.leader_epoch);
          info.replicas = ids(x.replicas);
          info.isr = ids(x.isr);
          info.partition_epoch = x.partition_epoch;
          info.recovery_state = static_cast<leader_recovery_state>(x.leader_recovery_state);
          info.adding_replicas = ids(x.adding_replicas);
          info.removing_replicas = ids(x.removing_replicas);
          if (p == t->partitions.size()) t->partitions.push_back(std::move(info));
          else t->partitions[p] = std::move(info);
          return "";
        } else if constexpr (std::is_same_v<T, md::partition_change_record>) {
          topic_info* t = find_mut(x.topic_id);
          if (!t) return fmt::format("partition change for unknown topic id {}", x.topic_id.to_base64());
          if (x.partition_id < 0 || static_cast<size_t>(x.partition_id) >= t->partitions.size())
            return fmt::format("partition change for unknown partition {} of '{}'", x.partition_id, t->name);
          if (x.replicas && x.replicas->empty())
            return fmt::format("partition change leaves {}-{} without replicas", t->name, x.partition_id);
          auto& p = t->partitions[static_cast<size_t>(x.partition_id)];
          // Kafka's rule: naming a leader (even the same one) starts a new leader epoch; the
          // partition epoch moves on every change.
          if (x.leader != no_leader_change) {
            p.leader = node_id(x.leader);
            p.leader_epoch = p.leader_epoch + 1;
          }
          if (x.isr) p.isr = ids(*x.isr);
          if (x.replicas) p.replicas = ids(*x.replicas);
          if (x.adding_replicas) p.adding_replicas = ids(*x.adding_replicas);
          if (x.removing_replicas) p.removing_replicas = ids(*x.removing_replicas);
          if (x.leader_recovery_state >= 0) p.recovery_state = static_cast<leader_recovery_state>(x.leader_recovery_state);
          ++p.partition_epoch;
          return "";
        } else if constexpr (std::is_same_v<T, md::remove_topic_record>) {
          auto it = _names_by_id.find(x.topic_id);
          if (it == _names_by_id.end()) return fmt::format("removal of unknown topic id {}", x.topic_id.to_base64());
          _topics.erase(it->second);
          _names_by_id.erase(it);
          return "";
        } else if constexpr (std::is_same_v<T, md::config_record>) {
          std::map<std::string, std::string>* m = nullptr;
          if (x.resource_type == config_resource_topic) {
            auto it = _topics.find(x.resource_name);
            if (it == _topics.end()) return fmt::format("config record for unknown topic '{}'", x.resource_name);
            m = &it->second.configs;
          } else if (x.resource_type == config_resource_broker) {
            m = &_broker_configs[x.resource_name];
          } else {
            return "";  // other resource types (client metrics, groups) are not kept
          }
          if (x.value) (*m)[x.name] = *x.value;
          else m->erase(x.name);
          if (x.resource_type == config_resource_broker && m->empty()) _broker_configs.erase(x.resource_name);
          return "";
        } else if constexpr (std::is_same_v<T, md::register_broker_record>) {
          broker_info b;
          b.id = node_id(x.broker_id);
          b.epoch = x.broker_epoch;
          b.incarnation_id = x.incarnation_id;
          b.rack = x.rack;
          b.fenced = x.fenced;
          b.in_controlled_shutdown = x.in_controlled_shutdown;
          for (const auto& e : x.end_points) {
            b.endpoints.push_back(broker_endpoint{e.name, e.host, int32_t(e.port), e.security_protocol});
          }
          if (!b.endpoints.empty()) {
            b.host = b.endpoints.front().host;
            b.port = b.endpoints.front().port;
          }
          _brokers[b.id] = std::move(b);
          return "";
        } else if constexpr (std::is_same_v<T, md::unregister_broker_record>) {
          auto it = _brokers.find(node_id(x.broker_id));
          if (it == _brokers.end()) return fmt::format("unregistration of unknown broker {}", x.broker_id);
          _brokers.erase(it);
          return "";
        } else if constexpr (std::is_same_v<T, md::fence_broker_record> ||
                             std::is_same_v<T, md::unfence_broker_record>) {
          auto it = _brokers.find(node_id(x.id));
          if (it == _brokers.end()) return fmt::format("(un)fencing of unknown broker {}", x.id);
          if (it->second.epoch != x.epoch)
            return fmt::format("(un)fencing of broker {} epoch {}, registered with epoch {}", x.id, x.epoch,
                               it->second.epoch);
          it->second.fenced = std::is_same_v<T, md::fence_broker_record>;
          return "";
        } else if constexpr (std::is_same_v<T, md::broker_registration_change_record>) {
          auto it = _brokers.find(node_id(x.broker_id));
          if (it == _brokers.end()) return fmt::format("registration change of unknown broker {}", x.broker_id);
          // Fenced and InControlledShutdown: 0 = unchanged, 1 = set, -1 = cleared (BrokerRegistrationFencingChange).
          if (x.fenced == 1) it->second.fenced = true;
          if (x.fenced == -1) it->second.fenced = false;
          if (x.in_controlled_shutdown == 1) it->second.in_controlled_shutdown = true;
          if (x.in_controlled_shutdown == -1) it->second.in_controlled_shutdown = false;
          return "";
        } else if constexpr (std::is_same_v<T, md::feature_level_record>) {
          if (x.feature_level == 0) _features.erase(x.name);
          else _features[x.name] = x.feature_level;
          if (_log_cluster_id.empty()) _log_cluster_id = record_cluster_id(x);
          return "";
        } else if constexpr (std::is_same_v<T, md::producer_ids_record>) {
          if (x.next_producer_id < _next_producer_id)
            return fmt::format("producer id block ending at {} is below the next id {}", x.next_producer_id,
                               _next_producer_id);
          _next_producer_id = x.next_producer_id;
          return "";
        } else if constexpr (std::is_same_v<T, md::user_scram_credential_record>) {
          if (x.name.empty()) return std::string("SCRAM credential without a user name");
          _scram[x.name][x.mechanism] = scram_credential_entry{x.salt, x.stored_key, x.server_key, x.iterations};
          return "";
        } else if constexpr (std::is_same_v<T, md::remove_user_scram_credential_record>) {
          auto it = _scram.find(x.name);
          if (it != _scram.end()) {
            it->second.erase(x.mechanism);
            if (it->second.empty()) _scram.erase(it);
          }
          return "";
        } else if constexpr (std::is_same_v<T, md::access_control_entry_record>) {
          _acls[x.id] = acl_entry{x.id, x.resource_type, x.resource_name, x.pattern_type, x.principal, x.host,
                                  x.operation, x.permission_type};
          ++_acl_version;
          return "";
        } else if constexpr (std::is_same_v<T, md::remove_access_control_entry_record>) {
          if (_acls.erase(x.id) == 0) return fmt::format("removal of unknown ACL {}", x.id.to_base64());
          ++_acl_version;
          return "";
        } else if constexpr (std::is_same_v<T, md::client_quota_record>) {
          quota_entity e;
          for (const auto& d : x.entity) e.emplace_back(d.entity_type, d.entity_name);
          std::sort(e.begin(), e.end());
          if (x.remove) {
            auto it = _quotas.find(e);
            if (it != _quotas.end()) {
              it->second.erase(x.key);
              if (it->second.empty()) _quotas.erase(it);
            }
          } else {
            _quotas[e][x.key] = x.value;
          }
          return "";
        } else {
          return "";  // kept elsewhere or not at all
        }
      },
      r);
  if (why.empty()) ++_version;
  return why;
}

std::vector<md::api_message_and_version> metadata_image::to_records() const {
  std::vector<md::api_message_and_version> out;
  auto add = [&](md::any_record r) {
    const int16_t v = std::visit([](const auto& x) { return x.max_version; }, r);
    out.push_back(md::api_message_and_version{std::move(r), v});
  };
  for (const auto& [name, level] : _features) {
    md::feature_level_record f;
    f.name = name;
    f.feature_level = level;
    if (name == metadata_version_feature) set_record_cluster_id(f, _log_cluster_id);
    add(std::move(f));
  }
  for (const auto& [id, b] : _brokers) {
    md::register_broker_record r;
    r.broker_id = id.value();
    r.broker_epoch = b.epoch;
    r.incarnation_id = b.incarnation_id;
    r.rack = b.rack;
    r.fenced = b.fenced;
    r.in_controlled_shutdown = b.in_controlled_shutdown;
    auto endpoints = b.endpoints;
    if (endpoints.empty() && !b.host.empty()) endpoints.push_back({"PLAINTEXT", b.host, b.port, 0});
    for (const auto& e : endpoints) {
      md::register_broker_record::broker_endpoint be;
      be.name = e.listener;
      be.host = e.host;
      be.port = static_cast<uint16_t>(e.port);
      be.security_protocol = e.security_protocol;
      r.end_points.push_back(std::move(be));
    }
    add(std::move(r));
  }
  for (const auto& [name, t] : _topics) {
    md::topic_record tr;
    tr.name = name;
    tr.topic_id = t.id;
    add(std::move(tr));
    for (const auto& p : t.partitions) {
      md::partition_record pr;
      pr.partition_id = p.id.value();
      pr.topic_id = t.id;
      pr.replicas = raw(p.replicas);
      pr.isr = raw(p.isr);
      pr.removing_replicas = raw(p.removing_replicas);
      pr.adding_replicas = raw(p.adding_replicas);
      pr.leader = p.leader.value();
      pr.leader_recovery_state = static_cast<int8_t>(p.recovery_state);
      pr.leader_epoch = p.leader_epoch.value();
      pr.partition_epoch = p.partition_epoch;
      add(std::move(pr));
    }
  }
  for (const auto& [resource, configs] : _broker_configs) {
    for (const auto& [k, v] : configs) {
      md::config_record c;
      c.resource_type = config_resource_broker;
      c.resource_name = resource;
      c.name = k;
      c.value = v;
      add(std::move(c));
    }
  }
  for (const auto& [name, t] : _topics) {
    for (const auto& [k, v] : t.configs) {
      md::config_record c;
      c.resource_type = config_resource_topic;
      c.resource_name = name;
      c.name = k;
      c.value = v;
      add(std::move(c));
    }
  }
  if (_next_producer_id > 0) {
    md::producer_ids_record p;
    p.broker_id = _controller_id.value();
    p.next_producer_id = _next_producer_id;
    add(std::move(p));
  }
  for (const auto& [entity, values] : _quotas) {
    for (const auto& [key, value] : values) {
      md::client_quota_record q = client_quota_record_for(entity, key);
      q.value = value;
      add(std::move(q));
    }
  }
  for (const auto& [user, by_mechanism] : _scram) {
    for (const auto& [mechanism, c] : by_mechanism) {
      md::user_scram_credential_record u;
      u.name = user;
      u.mechanism = mechanism;
      u.salt = c.salt;
      u.stored_key = c.stored_key;
      u.server_key = c.server_key;
      u.iterations = c.iterations;
      add(std::move(u));
    }
  }
  for (const auto& [id, a] : _acls) {
    md::access_control_entry_record r;
    r.id = a.id;
    r.resource_type = a.resource_type;
    r.resource_name = a.resource_name;
    r.pattern_type = a.pattern_type;
    r.principal = a.principal;
    r.host = a.host;
    r.operation = a.operation;
    r.permission_type = a.permission_type;
    add(std::move(r));
  }
  return out;
}

std::vector<md::any_record> metadata_image::from_legacy(const metadata_record& r) const {
  std::vector<md::any_record> out;
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        auto partition = [&](uuid topic, partition_id p, const std::vector<node_id>& replicas, node_id leader,
                             ::gregor::leader_epoch epoch, const std::vector<node_id>& isr, int32_t partition_epoch) {
          md::partition_record pr;
          pr.partition_id = p.value();
          pr.topic_id = topic;
          pr.replicas = raw(replicas);
          pr.isr = raw(isr);
          pr.leader = leader.value();
          pr.leader_epoch = epoch.value();
          pr.partition_epoch = partition_epoch;
          out.emplace_back(std::move(pr));
        };
        if constexpr (std::is_same_v<T, topic_record>) {
          md::topic_record t;
          t.name = x.name;
          t.topic_id = x.topic_id;
          out.emplace_back(std::move(t));
        } else if constexpr (std::is_same_v<T, partition_record>) {
          partition(x.topic_id, x.partition, x.replicas, x.leader, x.leader_epoch, x.isr, 0);
        } else if constexpr (std::is_same_v<T, partition_change_record>) {
          const topic_info* t = topic(x.topic_id);
          if (!t || x.partition.value() < 0 || size_t(x.partition.value()) >= t->partitions.size()) return;
          const auto& cur = t->partitions[size_t(x.partition.value())];
          partition(x.topic_id, x.partition, cur.replicas, x.leader, x.leader_epoch, x.isr, cur.partition_epoch + 1);
        } else if constexpr (std::is_same_v<T, remove_topic_record>) {
          md::remove_topic_record rt;
          rt.topic_id = x.topic_id;
          out.emplace_back(rt);
        } else if constexpr (std::is_same_v<T, config_record>) {
          const topic_info* t = topic(x.topic_id);
          if (!t) return;
          md::config_record c;
          c.resource_type = config_resource_topic;
          c.resource_name = t->name;
          c.name = x.name;
          c.value = x.value;
          out.emplace_back(std::move(c));
        } else if constexpr (std::is_same_v<T, broker_config_record>) {
          md::config_record c;
          c.resource_type = config_resource_broker;
          c.resource_name = x.resource;
          c.name = x.name;
          c.value = x.value;
          out.emplace_back(std::move(c));
        } else if constexpr (std::is_same_v<T, producer_ids_record>) {
          md::producer_ids_record p;
          p.broker_id = x.broker.value();
          p.next_producer_id = x.next_producer_id;
          out.emplace_back(p);
        }
        // broker_record: registrations are not persisted (brokers register at start-up).
      },
      r);
  return out;
}

std::string metadata_image::apply(const metadata_record& legacy) {
  for (const auto& r : from_legacy(legacy)) {
    std::string why = apply(r);
    if (!why.empty()) return why;
  }
  return "";
}

}  // namespace gregor::controller
