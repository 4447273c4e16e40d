#include "gregor/controller/quorum_controller.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "gregor/base/log.h"

namespace gregor::controller {
namespace md = protocol::metadata;
namespace {

spdlog::logger& lg() { return log::get("controller"); }

controller_error err(controller_errc c, std::string msg) { return controller_error{c, std::move(msg)}; }

// Topics whose names differ only in '.' versus '_' collide in metric names; Kafka refuses them.
std::string collision_key(std::string_view name) {
  std::string k(name);
  std::replace(k.begin(), k.end(), '.', '_');
  return k;
}

bool contains(const std::vector<node_id>& v, node_id x) { return std::find(v.begin(), v.end(), x) != v.end(); }

std::vector<int32_t> ids(const std::vector<node_id>& v) {
  std::vector<int32_t> out;
  out.reserve(v.size());
  for (node_id n : v) out.push_back(n.value());
  return out;
}

}  // namespace

void quorum_controller::activate(const metadata_image& committed, int64_t now_ms) {
  _last_heartbeat_ms.clear();  // a new term: every broker gets a full session from now
  rewind(committed, now_ms);
}

void quorum_controller::rewind(const metadata_image& committed, int64_t now_ms) {
  _image = committed;
  std::map<node_id, int64_t> heartbeats;
  _registration_offset.clear();
  for (const auto& [id, b] : _image.brokers()) {
    auto hb = _last_heartbeat_ms.find(id);
    heartbeats[id] = hb == _last_heartbeat_ms.end() ? now_ms : hb->second;
    _registration_offset[id] = b.epoch;
  }
  _last_heartbeat_ms = std::move(heartbeats);
}

void quorum_controller::apply(record_batch_t& out, md::any_record r, int16_t version) {
  const std::string why = _image.apply(r);
  GREGOR_ASSERT(why.empty());  // every record is built from the image it is applied to
  out.push_back(md::api_message_and_version{std::move(r), version});
}

record_batch_t quorum_controller::bootstrap_records(std::string_view cluster_id) {
  record_batch_t out;
  if (_image.features().contains(metadata_version_feature)) return out;
  // Applied to the speculative image like every other decision, so it matches the committed
  // image once the bootstrap batch commits (and is not proposed twice).
  for (auto& f : bootstrap_features()) {
    if (f.name == metadata_version_feature) {
      f.feature_level = _settings.metadata_version;
      set_record_cluster_id(f, cluster_id);
    }
    apply(out, std::move(f), 0);
  }
  return out;
}

std::vector<node_id> quorum_controller::usable_brokers() const {
  std::vector<node_id> out;
  for (const auto& [id, b] : _image.brokers())
    if (!b.fenced && !b.in_controlled_shutdown) out.push_back(id);
  return out;
}

// Rack-aware striping: brokers are interleaved rack by rack, each partition starts one step
// further along that list (so leaders spread), and its followers are the next brokers whose rack
// it does not have yet, then any other broker.
std::vector<std::vector<node_id>> quorum_controller::place(int32_t first_partition, int32_t count, int16_t rf,
                                                           uint64_t seed) const {
  std::map<std::string, std::vector<node_id>> by_rack;
  for (node_id id : usable_brokers()) {
    const auto& b = _image.brokers().at(id);
    by_rack[b.rack.value_or("")].push_back(id);
  }
  std::vector<node_id> order;
  std::map<node_id, std::string> rack_of;
  for (size_t i = 0;; ++i) {
    bool any = false;
    for (auto& [rack, brokers] : by_rack) {
      if (i < brokers.size()) {
        order.push_back(brokers[i]);
        rack_of[brokers[i]] = rack;
        any = true;
      }
    }
    if (!any) break;
  }
  std::vector<std::vector<node_id>> out;
  const size_t n = order.size();
  for (int32_t p = first_partition; p < first_partition + count; ++p) {
    std::vector<node_id> replicas;
    std::set<std::string> racks;
    const size_t start = size_t((seed + uint64_t(p)) % n);
    for (size_t i = 0; i < n && replicas.size() < size_t(rf); ++i) {
      node_id b = order[(start + i) % n];
      if (racks.contains(rack_of[b])) continue;
      replicas.push_back(b);
      racks.insert(rack_of[b]);
    }
    for (size_t i = 0; i < n && replicas.size() < size_t(rf); ++i) {
      node_id b = order[(start + i) % n];
      if (!contains(replicas, b)) replicas.push_back(b);
    }
    out.push_back(std::move(replicas));
  }
  return out;
}

result<decision<uuid>, controller_error> quorum_controller::create_topic(const topic_request& req,
                                                                         bool validate_only) {
  if (std::string why = metadata_store::validate_topic_name(req.name); !why.empty())
    return failure(err(controller_errc::invalid_topic, why));
  if (_image.topic(req.name))
    return failure(err(controller_errc::topic_already_exists, fmt::format("Topic '{}' already exists.", req.name)));
  const std::string key = collision_key(req.name);
  for (const auto& [other, t] : _image.topics())
    if (collision_key(other) == key)
      return failure(err(controller_errc::invalid_topic,
                         fmt::format("Topic '{}' collides with existing topic '{}'.", req.name, other)));
  std::vector<std::vector<node_id>> assignment = req.assignments;
  if (assignment.empty()) {
    if (req.partitions < 1 || req.partitions > topic_partitions_max)
      return failure(err(controller_errc::invalid_partitions,
                         fmt::format("Number of partitions must be between 1 and {}, not {}.", topic_partitions_max,
                                     req.partitions)));
    if (req.replication_factor < 1)
      return failure(err(controller_errc::invalid_replication_factor, "Replication factor must be larger than 0."));
    const size_t usable = usable_brokers().size();
    if (size_t(req.replication_factor) > usable)
      return failure(err(controller_errc::invalid_replication_factor,
                         fmt::format("Unable to replicate the partition {} time(s): The target replication factor of {} "
                                     "cannot be reached because only {} broker(s) are registered.",
                                     req.replication_factor, req.replication_factor, usable)));
  } else {
    if (assignment.size() > size_t(topic_partitions_max))
      return failure(err(controller_errc::invalid_partitions, "Too many partitions in the assignment."));
    for (const auto& replicas : assignment) {
      if (replicas.empty() || replicas.size() != assignment.front().size())
        return failure(err(controller_errc::invalid_replica_assignment,
                           "All partitions should have the same number of replicas, and at least one."));
      for (size_t i = 0; i < replicas.size(); ++i) {
        if (!_image.brokers().contains(replicas[i]))
          return failure(err(controller_errc::invalid_replica_assignment,
                             fmt::format("The manual partition assignment includes broker {}, but no broker with that "
                                         "id is registered.",
                                         replicas[i].value())));
        if (std::count(replicas.begin(), replicas.end(), replicas[i]) > 1)
          return failure(err(controller_errc::invalid_replica_assignment,
                             fmt::format("The manual partition assignment includes broker {} more than once.",
                                         replicas[i].value())));
      }
    }
  }
  if (validate_only) return decision<uuid>{};

  uuid id;
  do id = uuid::random();
  while (_image.topic(id) || id.is_zero());
  if (assignment.empty()) assignment = place(0, req.partitions, req.replication_factor, id.lo);
  decision<uuid> d;
  d.reply = id;
  md::topic_record tr;
  tr.name = req.name;
  tr.topic_id = id;
  apply(d.records, tr, 0);
  for (size_t p = 0; p < assignment.size(); ++p) {
    md::partition_record pr;
    pr.partition_id = int32_t(p);
    pr.topic_id = id;
    pr.replicas = ids(assignment[p]);
    // Only brokers that can take part start in the ISR; the first of them leads.
    for (node_id r : assignment[p])
      if (contains(usable_brokers(), r)) pr.isr.push_back(r.value());
    if (pr.isr.empty()) pr.isr.push_back(assignment[p].front().value());
    pr.leader = pr.isr.front();
    pr.leader_epoch = 0;
    pr.partition_epoch = 0;
    apply(d.records, pr, 0);
  }
  for (const auto& [k, v] : req.configs) {
    md::config_record c;
    c.resource_type = config_resource_topic;
    c.resource_name = req.name;
    c.name = k;
    c.value = v;
    apply(d.records, c, 0);
  }
  lg().info("creating topic '{}' ({}) with {} partitions", req.name, id.to_base64(), assignment.size());
  return d;
}

result<decision<bool>, controller_error> quorum_controller::delete_topic(const std::string& name) {
  const topic_info* t = _image.topic(name);
  if (!t) return failure(err(controller_errc::unknown_topic, fmt::format("Topic '{}' does not exist.", name)));
  decision<bool> d;
  md::remove_topic_record r;
  r.topic_id = t->id;
  apply(d.records, r, 0);
  d.reply = true;
  return d;
}

result<decision<bool>, controller_error> quorum_controller::create_partitions(
    const std::string& name, int32_t total, const std::vector<std::vector<node_id>>& assignments, bool validate_only) {
  const topic_info* t = _image.topic(name);
  if (!t) return failure(err(controller_errc::unknown_topic, fmt::format("Topic '{}' does not exist.", name)));
  const auto current = int32_t(t->partitions.size());
  if (total < current)
    return failure(err(controller_errc::invalid_partitions,
                       fmt::format("Topic currently has {} partitions, which is higher than the requested {}.", current,
                                   total)));
  if (total == current)
    return failure(err(controller_errc::invalid_partitions, fmt::format("Topic already has {} partitions.", current)));
  if (total > topic_partitions_max)
    return failure(err(controller_errc::invalid_partitions,
                       fmt::format("Number of partitions must be at most {}, not {}.", topic_partitions_max, total)));
  const auto rf = int16_t(t->partitions.empty() ? 1 : t->partitions[0].replicas.size());
  std::vector<std::vector<node_id>> placed = assignments;
  if (placed.empty()) {
    if (size_t(rf) > usable_brokers().size())
      return failure(err(controller_errc::invalid_replication_factor,
                         fmt::format("The topic's replication factor of {} cannot be reached because only {} broker(s) "
                                     "are registered.",
                                     rf, usable_brokers().size())));
    placed = place(current, total - current, rf, t->id.lo);
  } else {
    if (int32_t(placed.size()) != total - current)
      return failure(err(controller_errc::invalid_replica_assignment,
                         fmt::format("Increasing the number of partitions by {} but {} assignments provided.",
                                     total - current, placed.size())));
    for (const auto& replicas : placed)
      for (node_id b : replicas)
        if (!_image.brokers().contains(b) || std::count(replicas.begin(), replicas.end(), b) > 1)
          return failure(err(controller_errc::invalid_replica_assignment,
                             fmt::format("Broker {} is not registered or listed twice.", b.value())));
  }
  if (validate_only) return decision<bool>{};
  decision<bool> d;
  const uuid id = t->id;
  for (int32_t p = current; p < total; ++p) {
    const auto& replicas = placed[size_t(p - current)];
    md::partition_record pr;
    pr.partition_id = p;
    pr.topic_id = id;
    pr.replicas = ids(replicas);
    for (node_id r : replicas)
      if (contains(usable_brokers(), r)) pr.isr.push_back(r.value());
    if (pr.isr.empty()) pr.isr.push_back(replicas.front().value());
    pr.leader = pr.isr.front();
    pr.leader_epoch = 0;
    pr.partition_epoch = 0;
    apply(d.records, pr, 0);
  }
  d.reply = true;
  return d;
}

result<decision<bool>, controller_error> quorum_controller::alter_configs(
    int8_t resource_type, const std::string& resource_name,
    const std::map<std::string, std::optional<std::string>>& changes) {
  if (resource_type == config_resource_topic && !_image.topic(resource_name))
    return failure(err(controller_errc::unknown_topic, fmt::format("Topic '{}' does not exist.", resource_name)));
  decision<bool> d;
  for (const auto& [k, v] : changes) {
    md::config_record c;
    c.resource_type = resource_type;
    c.resource_name = resource_name;
    c.name = k;
    c.value = v;
    apply(d.records, c, 0);
  }
  d.reply = true;
  return d;
}

decision<bool> quorum_controller::create_acls(const std::vector<acl_entry>& acls,
                                              const std::function<uuid()>& new_id) {
  decision<bool> d;
  auto same_binding = [](const acl_entry& a, const acl_entry& b) {
    return a.resource_type == b.resource_type && a.resource_name == b.resource_name &&
           a.pattern_type == b.pattern_type && a.principal == b.principal && a.host == b.host &&
           a.operation == b.operation && a.permission_type == b.permission_type;
  };
  for (const auto& a : acls) {
    bool present = false;
    for (const auto& [id, existing] : _image.acls())
      if (same_binding(existing, a)) present = true;
    if (present) continue;
    md::access_control_entry_record r;
    do {
      r.id = new_id();
    } while (r.id.is_zero() || _image.acls().contains(r.id));
    r.resource_type = a.resource_type;
    r.resource_name = a.resource_name;
    r.pattern_type = a.pattern_type;
    r.principal = a.principal;
    r.host = a.host;
    r.operation = a.operation;
    r.permission_type = a.permission_type;
    apply(d.records, std::move(r), 0);
  }
  d.reply = true;
  return d;
}

decision<std::vector<std::vector<acl_entry>>> quorum_controller::delete_acls(
    const std::vector<std::function<bool(const acl_entry&)>>& filters) {
  decision<std::vector<std::vector<acl_entry>>> d;
  std::set<uuid> removed;
  for (const auto& f : filters) {
    auto& matched = d.reply.emplace_back();
    for (const auto& [id, a] : _image.acls())
      if (f(a)) {
        matched.push_back(a);
        removed.insert(id);
      }
  }
  for (const auto& id : removed) {
    md::remove_access_control_entry_record r;
    r.id = id;
    apply(d.records, std::move(r), 0);
  }
  return d;
}

decision<std::vector<std::optional<controller_error>>> quorum_controller::alter_scram_credentials(
    const std::vector<scram_change>& changes) {
  decision<std::vector<std::optional<controller_error>>> d;
  for (const auto& c : changes) {
    auto& outcome = d.reply.emplace_back();
    if (!c.credential) {
      auto it = _image.scram_credentials().find(c.user);
      if (it == _image.scram_credentials().end() || !it->second.contains(c.mechanism)) {
        outcome = err(controller_errc::resource_not_found,
                      "Attempt to delete a user credential that does not exist");
        continue;
      }
      md::remove_user_scram_credential_record r;
      r.name = c.user;
      r.mechanism = c.mechanism;
      apply(d.records, std::move(r), 0);
      continue;
    }
    md::user_scram_credential_record r;
    r.name = c.user;
    r.mechanism = c.mechanism;
    r.salt = c.credential->salt;
    r.stored_key = c.credential->stored_key;
    r.server_key = c.credential->server_key;
    r.iterations = c.credential->iterations;
    apply(d.records, std::move(r), 0);
  }
  return d;
}

namespace {

// The key types of Kafka's QuotaConfig: whole numbers (LONG, INT) or not (DOUBLE).
enum class quota_key_type { long_value, int_value, double_value };

std::optional<quota_key_type> quota_key_of(bool ip, const std::string& key) {
  if (ip) {
    if (key == "connection_creation_rate") return quota_key_type::int_value;
    return std::nullopt;
  }
  if (key == "producer_byte_rate" || key == "consumer_byte_rate") return quota_key_type::long_value;
  if (key == "request_percentage" || key == "controller_mutation_rate") return quota_key_type::double_value;
  return std::nullopt;
}

// Kafka's ClientQuotaEntity.toString(): a Java HashMap of the entity, whose iteration order for
// these three types is ip, client-id, user.
std::string entity_text(const quota_entity& e) {
  std::vector<std::string> parts;
  for (const char* type : {"ip", "client-id", "user"})
    for (const auto& [t, name] : e)
      if (t == type) parts.push_back(fmt::format("{}={}", t, name ? *name : "null"));
  for (const auto& [t, name] : e)
    if (t != "ip" && t != "client-id" && t != "user") parts.push_back(fmt::format("{}={}", t, name ? *name : "null"));
  return fmt::format("ClientQuotaEntity(entries={{{}}})", fmt::join(parts, ", "));
}

// An IPv4 or IPv6 address literal. (Kafka also takes a host name it can resolve; the controller
// does no I/O, so names are refused.)
bool ip_literal(const std::string& s) {
  if (s.empty()) return false;
  if (s.find(':') != std::string::npos) {
    // IPv6: hex groups and colons, at most one "::", optionally a dotted IPv4 tail.
    int groups = 0;
    size_t i = 0;
    bool compressed = false;
    while (i < s.size()) {
      if (s.compare(i, 2, "::") == 0) {
        if (compressed) return false;
        compressed = true;
        i += 2;
        continue;
      }
      if (s[i] == ':') {
        if (i == 0) return false;
        ++i;
        continue;
      }
      size_t j = i;
      while (j < s.size() && std::isxdigit(static_cast<unsigned char>(s[j]))) ++j;
      if (j < s.size() && s[j] == '.') return ip_literal(s.substr(i)) && groups <= 6;
      if (j == i || j - i > 4) return false;
      ++groups;
      i = j;
    }
    return compressed ? groups < 8 : groups == 8;
  }
  int parts = 0;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = i;
    while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
    if (j == i || j - i > 3 || std::stoi(s.substr(i, j - i)) > 255) return false;
    ++parts;
    if (j == s.size()) break;
    if (s[j] != '.') return false;
    i = j + 1;
  }
  return parts == 4;
}

}  // namespace

decision<std::vector<quorum_controller::quota_result>> quorum_controller::alter_client_quotas(
    const std::vector<quota_alteration>& alterations, bool validate_only) {
  decision<std::vector<quota_result>> d;
  std::vector<md::client_quota_record> writes;
  auto result_of = [&d](const quota_entity& e) -> quota_result* {
    for (auto& r : d.reply)
      if (r.entity == e) return &r;
    return nullptr;
  };
  auto invalid = [](std::string why) { return err(controller_errc::invalid_request, std::move(why)); };
  for (const auto& a : alterations) {
    // The request's entity as Kafka's request parsing makes it: a map, the last name of a type wins.
    std::map<std::string, std::optional<std::string>> by_type;
    for (const auto& [type, name] : a.entity) by_type[type] = name;
    const quota_entity entity(by_type.begin(), by_type.end());
    const std::string text = entity_text(entity);
    std::optional<controller_error> error;
    std::map<std::string, std::optional<double>> ops;  // nullopt = remove
    std::vector<std::string> op_order;
    for (const auto& op : a.ops) {
      if (ops.contains(op.key)) {
        error = invalid(fmt::format("Duplicate quota key {} not updating quota for this entity {}", op.key, text));
        continue;
      }
      ops[op.key] = op.remove ? std::nullopt : std::optional<double>(op.value);
      op_order.push_back(op.key);
    }
    // Kafka notes a duplicate key as the entity's result, then finds a result for the entity and
    // replaces it: both cases answer "Ignoring duplicate entity".
    if (error || result_of(entity)) {
      quota_result* r = result_of(entity);
      if (!r) r = &d.reply.emplace_back(quota_result{entity, std::nullopt});
      r->error = invalid(fmt::format("Ignoring duplicate entity {}", text));
      continue;
    }
    auto& out = d.reply.emplace_back(quota_result{entity, std::nullopt});
    if (entity.empty()) {
      out.error = invalid("Invalid empty client quota entity");
      continue;
    }
    for (const auto& [type, name] : entity) {
      if (type != "user" && type != "client-id" && type != "ip") {
        out.error = invalid("Unhandled client quota entity type: " + type);
        break;
      }
      if (name && name->empty()) {
        out.error = invalid("Empty " + type + " not supported");
        break;
      }
    }
    if (out.error) continue;
    const bool has_ip = by_type.contains("ip");
    if (has_ip && (by_type.contains("user") || by_type.contains("client-id"))) {
      out.error = invalid("Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId");
      continue;
    }
    if (has_ip && by_type["ip"] && !ip_literal(*by_type["ip"])) {
      out.error = invalid(*by_type["ip"] + " is not a valid IP or resolvable host.");
      continue;
    }
    static const std::map<std::string, double> none;
    auto current_it = _image.client_quotas().find(entity);
    const auto& current = current_it == _image.client_quotas().end() ? none : current_it->second;
    std::vector<md::client_quota_record> mine;
    auto record = [&entity](const std::string& key) { return client_quota_record_for(entity, key); };
    for (const auto& key : op_order) {
      const std::optional<double> value = ops[key];
      if (!value) {
        if (current.contains(key)) {
          auto r = record(key);
          r.remove = true;
          mine.push_back(std::move(r));
        }
        continue;
      }
      const auto type = quota_key_of(has_ip, key);
      const double v = *value;
      if (!type) {
        out.error = invalid("Invalid configuration key " + key);
      } else if (!(v > 0.0)) {
        out.error = invalid(fmt::format("Quota {} must be greater than 0", key));
      } else if (*type == quota_key_type::int_value && v > double(INT32_MAX)) {
        out.error = invalid(fmt::format("Proposed value for {} is too large for an INT.", key));
      } else if (*type == quota_key_type::long_value && v > double(INT64_MAX)) {
        out.error = invalid(fmt::format("Proposed value for {} is too large for a LONG.", key));
      } else if (*type != quota_key_type::double_value && std::abs(std::fmod(v, 1.0)) > 1e-6) {
        out.error = invalid(fmt::format("{} cannot be a fractional value.", key));
      }
      if (out.error) break;
      auto it = current.find(key);
      if (it != current.end() && it->second == v) continue;
      auto r = record(key);
      r.value = v;
      mine.push_back(std::move(r));
    }
    if (out.error) continue;
    for (auto& r : mine) writes.push_back(std::move(r));
  }
  // An entity refused after its records were taken ("Ignoring duplicate entity") keeps them, as
  // Kafka's controller does (the records of the first entry are already in its output).
  if (!validate_only)
    for (auto& r : writes) apply(d.records, std::move(r), 0);
  return d;
}

result<decision<bool>, controller_error> quorum_controller::update_features(const std::vector<feature_update>& updates,
                                                                            bool validate_only) {
  auto refuse = [](const feature_update& u, std::string why) {
    return failure(err(controller_errc::invalid_update_version,
                       fmt::format("Invalid update version {} for feature {}. {}", u.level, u.feature, why)));
  };
  std::vector<md::feature_level_record> changes;
  for (const auto& u : updates) {
    const feature_range* range = supported_feature(u.feature);
    if (!range) return refuse(u, "The controller does not support the given feature.");
    if (u.feature == kraft_version_feature)
      return refuse(u, "kraft.version follows the controller quorum's voter set (kafka-metadata-quorum add-controller).");
    if (u.level < range->min || u.level > range->max)
      return refuse(u, fmt::format("The controller only supports versions {}-{}.", range->min, range->max));
    auto it = _image.features().find(u.feature);
    const int16_t current = it == _image.features().end() ? 0 : it->second;
    if (u.level < current) {
      if (u.type == feature_upgrade::upgrade)
        return refuse(u, "Can't downgrade the version of this feature without setting the upgrade type to either "
                         "safe or unsafe downgrade.");
      if (u.feature == metadata_version_feature) return refuse(u, "Downgrading metadata.version is not supported.");
    } else if (u.level > current && u.type != feature_upgrade::upgrade) {
      return refuse(u, "Can't downgrade to a newer version.");
    }
    if (u.level == current) continue;
    md::feature_level_record f;
    f.name = u.feature;
    f.feature_level = u.level;
    changes.push_back(std::move(f));
  }
  decision<bool> d;
  d.reply = true;
  if (validate_only) return d;
  for (auto& f : changes) apply(d.records, std::move(f), 0);
  return d;
}

result<decision<producer_id_block>, controller_error> quorum_controller::allocate_producer_ids(node_id broker,
                                                                                               int64_t broker_epoch,
                                                                                               int32_t count) {
  auto b = _image.brokers().find(broker);
  if (b == _image.brokers().end())
    return failure(err(controller_errc::broker_not_registered, fmt::format("Broker {} is not registered.", broker.value())));
  if (broker_epoch >= 0 && broker_epoch != b->second.epoch)
    return failure(err(controller_errc::stale_broker_epoch,
                       fmt::format("Broker {} has epoch {}, not {}.", broker.value(), b->second.epoch, broker_epoch)));
  const int64_t first = _image.next_producer_id();
  if (count < 1 || first > INT64_MAX - count) return failure(err(controller_errc::io_error, "producer ids are exhausted"));
  decision<producer_id_block> d;
  md::producer_ids_record r;
  r.broker_id = broker.value();
  r.broker_epoch = b->second.epoch;
  r.next_producer_id = first + count;
  apply(d.records, r, 0);
  d.reply = producer_id_block{broker, first, count};
  return d;
}

result<decision<int64_t>, controller_error> quorum_controller::register_broker(const broker_registration& r,
                                                                               int64_t record_offset, int64_t now_ms) {
  if (r.id.value() < 0) return failure(err(controller_errc::invalid_request, "broker id must be >= 0"));
  if (r.endpoints.empty()) return failure(err(controller_errc::invalid_request, "a broker registers at least one listener"));
  auto existing = _image.brokers().find(r.id);
  if (existing != _image.brokers().end() && existing->second.incarnation_id != r.incarnation_id) {
    // Another process with this id. Kafka refuses while the old one's session is alive.
    auto hb = _last_heartbeat_ms.find(r.id);
    const bool alive = !existing->second.fenced && hb != _last_heartbeat_ms.end() &&
                       now_ms - hb->second < _settings.broker_session_timeout_ms;
    if (alive && r.previous_broker_epoch != existing->second.epoch)
      return failure(err(controller_errc::duplicate_broker_registration,
                         fmt::format("Another broker is registered with id {}.", r.id.value())));
  }
  decision<int64_t> d;
  md::register_broker_record rec;
  rec.broker_id = r.id.value();
  rec.incarnation_id = r.incarnation_id;
  rec.broker_epoch = record_offset;
  for (const auto& e : r.endpoints) {
    auto& o = rec.end_points.emplace_back();
    o.name = e.listener;
    o.host = e.host;
    o.port = uint16_t(e.port);
    o.security_protocol = e.security_protocol;
  }
  md::register_broker_record::broker_feature f;
  f.name = metadata_version_feature;
  f.min_supported_version = metadata_version_range.min;
  f.max_supported_version = std::max<int16_t>(_settings.metadata_version, metadata_version_range.min);
  rec.features.push_back(f);
  rec.rack = r.rack;
  rec.fenced = true;
  apply(d.records, rec, 1);
  // A new incarnation starts fenced: whatever the old one led moves on.
  if (existing != _image.brokers().end()) move_away_from(r.id, d.records);
  _last_heartbeat_ms[r.id] = now_ms;
  _registration_offset[r.id] = record_offset;
  d.reply = record_offset;
  lg().info("broker {} registered (epoch {})", r.id.value(), record_offset);
  return d;
}

result<decision<heartbeat_reply>, controller_error> quorum_controller::heartbeat(const broker_heartbeat& h,
                                                                                 int64_t now_ms) {
  auto it = _image.brokers().find(h.id);
  if (it == _image.brokers().end())
    return failure(err(controller_errc::broker_not_registered, fmt::format("Broker {} is not registered.", h.id.value())));
  if (it->second.epoch != h.broker_epoch)
    return failure(err(controller_errc::stale_broker_epoch,
                       fmt::format("Broker {} has epoch {}, not {}.", h.id.value(), it->second.epoch, h.broker_epoch)));
  _last_heartbeat_ms[h.id] = now_ms;
  const broker_info b = it->second;  // copy: records below change the image
  decision<heartbeat_reply> d;
  const bool caught_up = h.current_metadata_offset >= _registration_offset[h.id];
  if (h.want_shutdown) {
    if (!b.in_controlled_shutdown && !b.fenced) {
      md::broker_registration_change_record c;
      c.broker_id = h.id.value();
      c.broker_epoch = b.epoch;
      c.in_controlled_shutdown = 1;
      apply(d.records, c, 1);
    }
    move_away_from(h.id, d.records);
  } else if (h.want_fence && !b.fenced) {
    md::fence_broker_record f;
    f.id = h.id.value();
    f.epoch = b.epoch;
    apply(d.records, f, 0);
    move_away_from(h.id, d.records);
  } else if (!h.want_fence && b.fenced && caught_up) {
    md::unfence_broker_record u;
    u.id = h.id.value();
    u.epoch = b.epoch;
    apply(d.records, u, 0);
    restore_leaders_with(h.id, d.records);
    lg().info("broker {} unfenced", h.id.value());
  }
  // A broker in controlled shutdown may stop once it leads nothing.
  bool leads = false;
  for (const auto& [name, t] : _image.topics())
    for (const auto& p : t.partitions) leads = leads || p.leader == h.id;
  d.reply.should_shutdown = h.want_shutdown && !leads;
  if (d.reply.should_shutdown && !_image.brokers().at(h.id).fenced) {
    // Kafka fences a broker as it lets it stop: its next incarnation may register at once.
    md::broker_registration_change_record c;
    c.broker_id = h.id.value();
    c.broker_epoch = b.epoch;
    c.fenced = 1;
    apply(d.records, c, 1);
    lg().info("broker {} finished its controlled shutdown: fenced", h.id.value());
  }
  const broker_info& now = _image.brokers().at(h.id);
  d.reply.is_caught_up = caught_up;
  d.reply.is_fenced = now.fenced;
  return d;
}

record_batch_t quorum_controller::tick(int64_t now_ms) {
  record_batch_t out;
  std::vector<node_id> expired;
  for (const auto& [id, b] : _image.brokers()) {
    if (b.fenced) continue;
    auto hb = _last_heartbeat_ms.find(id);
    if (hb == _last_heartbeat_ms.end()) {
      _last_heartbeat_ms[id] = now_ms;
      continue;
    }
    if (now_ms - hb->second >= _settings.broker_session_timeout_ms) expired.push_back(id);
  }
  for (node_id id : expired) {
    lg().warn("broker {} missed its heartbeats for {} ms: fencing it", id.value(), _settings.broker_session_timeout_ms);
    md::fence_broker_record f;
    f.id = id.value();
    f.epoch = _image.brokers().at(id).epoch;
    apply(out, f, 0);
    move_away_from(id, out);
  }
  return out;
}

bool quorum_controller::unclean_allowed(const topic_info& t) const {
  auto it = t.configs.find("unclean.leader.election.enable");
  if (it != t.configs.end()) return it->second == "true";
  auto d = _image.broker_configs("").find("unclean.leader.election.enable");
  if (d != _image.broker_configs("").end()) return d->second == "true";
  return _settings.unclean_leader_election_enable;
}

result<decision<partition_state>, controller_error> quorum_controller::alter_partition(
    const alter_partition_request& req) {
  auto b = _image.brokers().find(req.broker);
  if (b == _image.brokers().end())
    return failure(err(controller_errc::broker_not_registered, fmt::format("Broker {} is not registered.", req.broker.value())));
  if (req.broker_epoch >= 0 && req.broker_epoch != b->second.epoch)
    return failure(err(controller_errc::stale_broker_epoch,
                       fmt::format("Broker {} has epoch {}, not {}.", req.broker.value(), b->second.epoch, req.broker_epoch)));
  const topic_info* t = _image.topic(req.topic_id);
  if (!t) return failure(err(controller_errc::unknown_topic_id, "Unknown topic id."));
  if (req.partition < 0 || size_t(req.partition) >= t->partitions.size())
    return failure(err(controller_errc::not_leader_or_follower, fmt::format("No partition {}-{}.", t->name, req.partition)));
  const partition_info& p = t->partitions[size_t(req.partition)];
  if (req.epoch != p.leader_epoch)
    return failure(err(controller_errc::fenced_leader_epoch,
                       fmt::format("{}-{}: leader epoch {} is not the current {}.", t->name, req.partition,
                                   req.epoch.value(), p.leader_epoch.value())));
  if (p.leader != req.broker)
    return failure(err(controller_errc::not_leader_or_follower,
                       fmt::format("Broker {} does not lead {}-{}.", req.broker.value(), t->name, req.partition)));
  if (req.partition_epoch != p.partition_epoch)
    return failure(err(controller_errc::invalid_update_version,
                       fmt::format("{}-{}: partition epoch {} is not the current {}.", t->name, req.partition,
                                   req.partition_epoch, p.partition_epoch)));
  if (!contains(req.new_isr, req.broker))
    return failure(err(controller_errc::invalid_request, "The new ISR must contain the leader."));
  for (size_t i = 0; i < req.new_isr.size(); ++i) {
    const node_id r = req.new_isr[i];
    for (size_t j = 0; j < i; ++j)
      if (req.new_isr[j] == r) return failure(err(controller_errc::invalid_request, "Duplicate broker in the new ISR."));
    auto rb = _image.brokers().find(r);
    const bool was_in_isr = contains(p.isr, r);
    if (!contains(p.replicas, r) || rb == _image.brokers().end() ||
        (!was_in_isr && (rb->second.fenced || rb->second.in_controlled_shutdown)))
      return failure(err(controller_errc::ineligible_replica,
                         fmt::format("Broker {} cannot join the ISR of {}-{}.", r.value(), t->name, req.partition)));
  }
  decision<partition_state> d;
  std::vector<node_id> sorted_new = req.new_isr, sorted_old = p.isr;
  std::sort(sorted_new.begin(), sorted_new.end());
  std::sort(sorted_old.begin(), sorted_old.end());
  if (sorted_new != sorted_old) {
    md::partition_change_record r;
    r.topic_id = t->id;
    r.partition_id = req.partition;
    r.isr = ids(req.new_isr);
    apply(d.records, r, 0);
    maybe_complete_reassignment(t->id, req.partition, d.records);
  }
  const partition_info& now = _image.topic(req.topic_id)->partitions[size_t(req.partition)];
  d.reply = partition_state{now.leader, now.leader_epoch, now.isr, now.partition_epoch};
  return d;
}

void quorum_controller::move_away_from(node_id broker, record_batch_t& out) {
  struct change {
    uuid topic;
    int32_t partition;
    std::vector<int32_t> isr;
    int32_t leader;
  };
  std::vector<change> changes;
  for (const auto& [name, t] : _image.topics()) {
    for (const auto& p : t.partitions) {
      const bool in_isr = contains(p.isr, broker);
      if (!in_isr && p.leader != broker) continue;
      std::vector<node_id> isr;
      for (node_id r : p.isr)
        if (r != broker) isr.push_back(r);
      // Kafka never empties an ISR: the last member stays so it can come back as leader.
      if (isr.empty()) isr.push_back(broker);
      node_id leader = p.leader;
      if (p.leader == broker || p.leader == no_node) {
        leader = first_usable(p.replicas, isr);
        if (leader == no_node && unclean_allowed(t)) {
          leader = first_usable(p.replicas, p.replicas);
          if (leader != no_node) {
            isr = {leader};
            lg().warn("unclean leader election of {}-{}: broker {} leads with possible data loss", name,
                      p.id.value(), leader.value());
          }
        }
      }
      if (leader == p.leader && isr == p.isr) continue;
      // Kafka's NO_LEADER_CHANGE (-2) when only the ISR shrinks, so the leader epoch stays.
      changes.push_back(change{t.id, p.id.value(), ids(isr), leader == p.leader ? -2 : leader.value()});
    }
  }
  for (auto& c : changes) {
    md::partition_change_record r;
    r.topic_id = c.topic;
    r.partition_id = c.partition;
    r.isr = std::move(c.isr);
    r.leader = c.leader;
    apply(out, r, 0);
    maybe_complete_reassignment(c.topic, c.partition, out);
  }
}

void quorum_controller::restore_leaders_with(node_id broker, record_batch_t& out) {
  std::vector<std::pair<uuid, int32_t>> offline;
  for (const auto& [name, t] : _image.topics())
    for (const auto& p : t.partitions)
      if (p.leader == no_node && contains(p.isr, broker)) offline.emplace_back(t.id, p.id.value());
  for (const auto& [topic, partition] : offline) {
    md::partition_change_record r;
    r.topic_id = topic;
    r.partition_id = partition;
    r.leader = broker.value();
    apply(out, r, 0);
    maybe_complete_reassignment(topic, partition, out);
  }
}

bool quorum_controller::usable(node_id b) const {
  auto it = _image.brokers().find(b);
  return it != _image.brokers().end() && !it->second.fenced && !it->second.in_controlled_shutdown;
}

node_id quorum_controller::first_usable(const std::vector<node_id>& replicas,
                                        const std::vector<node_id>& eligible) const {
  for (node_id r : replicas)
    if (contains(eligible, r) && usable(r)) return r;
  return no_node;
}

void quorum_controller::maybe_complete_reassignment(const uuid& topic, int32_t partition, record_batch_t& out) {
  const topic_info* t = _image.topic(topic);
  if (!t || partition < 0 || size_t(partition) >= t->partitions.size()) return;
  const partition_info& p = t->partitions[size_t(partition)];
  if (p.adding_replicas.empty() && p.removing_replicas.empty()) return;
  std::vector<node_id> replicas, isr;
  for (node_id r : p.replicas)
    if (!contains(p.removing_replicas, r)) replicas.push_back(r);
  for (node_id r : p.isr)
    if (!contains(p.removing_replicas, r)) isr.push_back(r);
  for (node_id a : p.adding_replicas)
    if (!contains(isr, a)) return;  // an added replica has not caught up yet
  if (isr.empty()) return;
  md::partition_change_record r;
  r.topic_id = topic;
  r.partition_id = partition;
  r.replicas = ids(replicas);
  r.isr = ids(isr);
  r.adding_replicas = std::vector<int32_t>{};
  r.removing_replicas = std::vector<int32_t>{};
  if (!contains(isr, p.leader) || !usable(p.leader)) {
    r.leader = first_usable(replicas, isr).value();
  } else if (!p.removing_replicas.empty()) {
    // Kafka bumps the leader epoch when replicas leave, so the removed ones' fetches are fenced.
    r.leader = p.leader.value();
  }
  lg().info("reassignment of {}-{} completes: replicas {}", t->name, partition, fmt::join(r.replicas.value(), ","));
  apply(out, r, 0);
}

decision<std::vector<partition_result>> quorum_controller::alter_partition_reassignments(
    const std::vector<reassignment_request>& reqs) {
  decision<std::vector<partition_result>> d;
  for (const auto& rq : reqs) {
    auto& res = d.reply.emplace_back(partition_result{rq.topic, rq.partition, std::nullopt});
    const topic_info* t = _image.topic(rq.topic);
    if (!t || rq.partition < 0 || size_t(rq.partition) >= t->partitions.size()) {
      res.error = err(controller_errc::unknown_topic,
                      fmt::format("Unable to find partition {}-{}.", rq.topic, rq.partition));
      continue;
    }
    const uuid topic_id = t->id;
    const partition_info p = t->partitions[size_t(rq.partition)];  // copy: records change the image
    const bool ongoing = !p.adding_replicas.empty() || !p.removing_replicas.empty();
    md::partition_change_record r;
    r.topic_id = topic_id;
    r.partition_id = rq.partition;
    if (!rq.target) {
      if (!ongoing) {
        res.error = err(controller_errc::no_reassignment_in_progress,
                        fmt::format("No ongoing reassignment for partition {}-{}.", rq.topic, rq.partition));
        continue;
      }
      // Cancel: the replicas being added go, the ones being removed stay.
      std::vector<node_id> original, isr;
      for (node_id x : p.replicas)
        if (!contains(p.adding_replicas, x)) original.push_back(x);
      for (node_id x : p.isr)
        if (contains(original, x)) isr.push_back(x);
      if (isr.empty()) isr.push_back(original.front());  // an ISR is never empty
      r.replicas = ids(original);
      r.isr = ids(isr);
      r.adding_replicas = std::vector<int32_t>{};
      r.removing_replicas = std::vector<int32_t>{};
      if (!contains(isr, p.leader)) r.leader = first_usable(original, isr).value();
      apply(d.records, r, 0);
      lg().info("reassignment of {}-{} cancelled", rq.topic, rq.partition);
      continue;
    }
    const auto& target = *rq.target;
    if (target.empty()) {
      res.error = err(controller_errc::invalid_replica_assignment,
                      "The manual partition assignment includes an empty replica list.");
      continue;
    }
    std::string bad;
    for (size_t i = 0; i < target.size() && bad.empty(); ++i) {
      if (!_image.brokers().contains(target[i]))
        bad = fmt::format("The manual partition assignment includes broker {}, but no such broker is registered.",
                          target[i].value());
      for (size_t j = 0; j < i && bad.empty(); ++j)
        if (target[j] == target[i])
          bad = fmt::format("The manual partition assignment includes the broker {} more than once.",
                            target[i].value());
    }
    if (!bad.empty()) {
      res.error = err(controller_errc::invalid_replica_assignment, bad);
      continue;
    }
    std::vector<node_id> removing, adding, merged = target;
    for (node_id x : p.replicas)
      if (!contains(target, x)) removing.push_back(x);
    for (node_id x : target)
      if (!contains(p.replicas, x)) adding.push_back(x);
    merged.insert(merged.end(), removing.begin(), removing.end());
    if (merged == p.replicas && removing == p.removing_replicas && adding == p.adding_replicas) {
      continue;  // already so (a reassignment to the current replicas is a no-op)
    }
    r.replicas = ids(merged);
    r.removing_replicas = ids(removing);
    r.adding_replicas = ids(adding);
    apply(d.records, r, 0);
    lg().info("reassignment of {}-{}: adding [{}] removing [{}]", rq.topic, rq.partition, fmt::join(ids(adding), ","),
              fmt::join(ids(removing), ","));
    maybe_complete_reassignment(topic_id, rq.partition, d.records);
  }
  return d;
}

std::optional<controller_error> quorum_controller::elect(const topic_info& t, const partition_info& p,
                                                         election_type type, record_batch_t& out) {
  md::partition_change_record r;
  r.topic_id = t.id;
  r.partition_id = p.id.value();
  if (type == election_type::preferred) {
    const node_id preferred = p.replicas.empty() ? no_node : p.replicas.front();
    if (p.leader == preferred)
      return err(controller_errc::election_not_needed, "Leader election not needed for topic partition.");
    if (!contains(p.isr, preferred) || !usable(preferred))
      return err(controller_errc::preferred_leader_not_available,
                 fmt::format("Failed to elect leader for partition {}-{} under strategy PreferredReplicaPartitionLeaderElectionStrategy",
                             t.name, p.id.value()));
    r.leader = preferred.value();
    apply(out, r, 0);
    return std::nullopt;
  }
  if (p.leader != no_node)
    return err(controller_errc::election_not_needed, "Leader election not needed for topic partition.");
  if (const node_id c = first_usable(p.replicas, p.isr); c != no_node) {
    r.leader = c.value();
    apply(out, r, 0);
    return std::nullopt;
  }
  if (const node_id c = first_usable(p.replicas, p.replicas); c != no_node) {
    r.leader = c.value();
    r.isr = std::vector<int32_t>{c.value()};
    lg().warn("unclean leader election of {}-{} (ElectLeaders): broker {} leads with possible data loss", t.name,
              p.id.value(), c.value());
    apply(out, r, 0);
    return std::nullopt;
  }
  return err(controller_errc::eligible_leaders_not_available,
             fmt::format("Failed to elect leader for partition {}-{} under strategy UncleanLeaderElectionStrategy",
                         t.name, p.id.value()));
}

decision<std::vector<partition_result>> quorum_controller::elect_leaders(
    election_type type, const std::optional<std::vector<std::pair<std::string, int32_t>>>& partitions) {
  decision<std::vector<partition_result>> d;
  if (!partitions) {
    std::vector<std::pair<std::string, int32_t>> all;
    for (const auto& [name, t] : _image.topics())
      for (const auto& p : t.partitions) all.emplace_back(name, p.id.value());
    for (const auto& [name, id] : all) {
      const topic_info& t = *_image.topic(name);
      auto e = elect(t, t.partitions[size_t(id)], type, d.records);
      if (e && e->code == controller_errc::election_not_needed) continue;
      d.reply.push_back(partition_result{name, id, e});
    }
    return d;
  }
  for (const auto& [name, id] : *partitions) {
    auto& res = d.reply.emplace_back(partition_result{name, id, std::nullopt});
    const topic_info* t = _image.topic(name);
    if (!t || id < 0 || size_t(id) >= t->partitions.size()) {
      res.error = err(controller_errc::unknown_topic, fmt::format("Unable to find partition {}-{}.", name, id));
      continue;
    }
    res.error = elect(*t, t->partitions[size_t(id)], type, d.records);
  }
  return d;
}

record_batch_t quorum_controller::balance_leaders() {
  record_batch_t out;
  std::vector<std::pair<std::string, int32_t>> imbalanced;
  for (const auto& [name, t] : _image.topics())
    for (const auto& p : t.partitions)
      if (!p.replicas.empty() && p.leader != p.replicas.front() && contains(p.isr, p.replicas.front()) &&
          usable(p.replicas.front()))
        imbalanced.emplace_back(name, p.id.value());
  for (const auto& [name, id] : imbalanced) {
    const topic_info& t = *_image.topic(name);
    (void)elect(t, t.partitions[size_t(id)], election_type::preferred, out);
  }
  if (!imbalanced.empty()) lg().info("auto leader rebalance: {} partition(s) back to their preferred leader", imbalanced.size());
  return out;
}

}  // namespace gregor::controller
