#include "gregor/controller/metadata_store.h"

#include <algorithm>

#include <fmt/format.h>

#include "gregor/base/log.h"
#include "gregor/storage/file.h"

namespace gregor::controller {
namespace {

namespace md = protocol::metadata;
namespace fs = std::filesystem;

constexpr const char* k_legacy_file = "metadata.log";

spdlog::logger& lg() { return log::get("controller"); }

controller_error err(controller_errc c, std::string msg) { return controller_error{c, std::move(msg)}; }
controller_error io(std::string msg) { return err(controller_errc::io_error, std::move(msg)); }

std::vector<int32_t> raw(const std::vector<node_id>& v) {
  std::vector<int32_t> out;
  for (node_id x : v) out.push_back(x.value());
  return out;
}

md::partition_record new_partition(uuid topic, int32_t p, const std::vector<node_id>& replicas) {
  md::partition_record r;
  r.partition_id = p;
  r.topic_id = topic;
  r.replicas = raw(replicas);
  r.isr = raw(replicas);
  r.leader = replicas.front().value();
  r.leader_epoch = 0;
  r.partition_epoch = 0;
  return r;
}

md::config_record config(int8_t type, std::string resource, std::string name, std::optional<std::string> value) {
  md::config_record c;
  c.resource_type = type;
  c.resource_name = std::move(resource);
  c.name = std::move(name);
  c.value = std::move(value);
  return c;
}

// Topics whose names differ only in '.' versus '_' collide in metric names; Kafka refuses them.
std::string collision_key(std::string_view name) {
  std::string k(name);
  std::replace(k.begin(), k.end(), '.', '_');
  return k;
}


// Replica list of partition `p`: round-robin over `brokers` from a per-topic start, so leaders of
// different topics spread over the cluster.
std::vector<node_id> assign(int32_t p, int16_t rf, const std::vector<node_id>& brokers, uint64_t start) {
  std::vector<node_id> out;
  const size_t n = brokers.size();
  for (int16_t i = 0; i < rf; ++i) out.push_back(brokers[(start + static_cast<uint64_t>(p) + i) % n]);
  return out;
}

}  // namespace

metadata_store::metadata_store(std::filesystem::path dir, node_id self, clock& clk)
    : _dir(std::move(dir)), _self(self), _clock(clk) {}

metadata_store::~metadata_store() {
  if (_log) (void)_log->close();
}

std::string metadata_store::validate_topic_name(std::string_view name) {
  if (name.empty()) return "topic name is empty";
  if (name == "." || name == "..") return fmt::format("topic name cannot be '{}'", name);
  if (name.size() > topic_name_bytes_max)
    return fmt::format("topic name is {} characters long, more than the limit of {}", name.size(), topic_name_bytes_max);
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok)
      return fmt::format("topic name '{}' contains a character other than ASCII letters, digits, '.', '_' and '-'",
                         name);
  }
  return "";
}

result<std::unique_ptr<metadata_store>, controller_error> metadata_store::open(std::filesystem::path log_dir,
                                                                               node_id self,
                                                                               std::string cluster_id_or_empty,
                                                                               clock& clk) {
  std::error_code ec;
  storage::create_dirs(log_dir, ec);  // fsynced into its parent: a power cut must not take it
  if (ec) return failure(io(fmt::format("cannot create log dir {}: {}", log_dir.string(), ec.message())));

  auto claimed = claim_meta_properties(log_dir, self, cluster_id_or_empty, new_cluster_id());
  if (!claimed) return failure(claimed.error());
  const std::string cluster_id = *claimed;

  auto dir = log_dir / metadata_dir_name;
  std::unique_ptr<metadata_store> s(new metadata_store(dir, self, clk));
  s->_image.set_identity(cluster_id, self);
  const fs::path legacy = dir / k_legacy_file;
  const bool has_legacy = fs::exists(legacy, ec);
  auto mlog = metadata_log::open(dir, clk);
  if (!mlog) return failure(mlog.error());
  s->_log = std::move(*mlog);
  auto rec = s->_log->take_recovered();
  const bool fresh = !rec.snapshot && rec.log_end_offset == offset(0);
  if (has_legacy) {
    if (!fresh) {
      return failure(io(fmt::format(
          "{} holds both a metadata log in Kafka's layout and the former Gregor file {}; move {} away "
          "(the Kafka-layout log is the current one) and start again",
          dir.string(), k_legacy_file, legacy.string())));
    }
    auto c = s->convert_legacy(legacy);
    if (!c) return failure(c.error());
  } else {
    auto r = s->replay(rec);
    if (!r) return failure(r.error());
  }
  auto e = s->start_epoch(rec, fresh && !has_legacy);
  if (!e) return failure(e.error());
  return s;
}

result<void, controller_error> metadata_store::replay(recovered_metadata_log& rec) {
  size_t records = 0;
  auto apply = [&](const md::api_message_and_version& r, offset at) {
    std::string why = _image.apply(r.message);
    if (!why.empty()) lg().error("{}: record at offset {} does not apply: {}", _dir.string(), at, why);
    ++records;
  };
  if (rec.snapshot_contents) {
    for (const auto& r : rec.snapshot_contents->records) apply(r, rec.snapshot->end_offset);
  }
  for (const auto& b : rec.batches) {
    for (const auto& r : b.records) apply(r, b.base_offset);
  }
  lg().info("replayed {} metadata records ({} batches after snapshot {}): {} topics", records, rec.batches.size(),
            rec.snapshot ? snapshot_file_name(*rec.snapshot) : "none", _image.topics().size());
  return ok;
}

result<void, controller_error> metadata_store::start_epoch(const recovered_metadata_log& rec, bool fresh) {
  // This node is the only voter: every start is a new election it wins, as in KRaft.
  int32_t last = rec.quorum ? rec.quorum->leader_epoch.value() : 0;
  if (rec.snapshot) last = std::max(last, rec.snapshot->epoch.value());
  for (const auto& b : rec.batches) last = std::max(last, b.epoch.value());
  _epoch = leader_epoch(std::max(last, 0) + 1);
  quorum_state_file q;
  q.leader_id = _self;
  q.leader_epoch = _epoch;
  q.voted_id = _self;
  auto w = _log->write_quorum_state(q);
  if (!w) return w;
  md::leader_change_message lc;
  lc.version = 0;
  lc.leader_id = _self.value();
  md::leader_change_message::voter v;
  v.voter_id = _self.value();
  lc.voters.push_back(v);
  lc.granting_voters.push_back(v);
  std::vector<md::any_control_record> control{lc};
  auto a = _log->append_control(_epoch, _clock.now_ms(), control);
  if (!a) return failure(a.error());
  auto f = _log->flush();
  if (!f) return f;
  if (fresh) return append_bootstrap_features();
  return ok;
}

result<void, controller_error> metadata_store::append_bootstrap_features() {
  std::vector<md::any_record> records;
  for (auto& f : bootstrap_features()) records.push_back(std::move(f));
  return append(std::move(records));
}

result<void, controller_error> metadata_store::convert_legacy(const fs::path& legacy) {
  auto text = storage::read_small_file(legacy, size_t(1) << 30);
  if (!text) return failure(io(text.error().message));
  const std::string& bytes = *text;
  const std::string header = std::string(metadata_file_magic) + char(metadata_file_version);
  if (bytes.compare(0, header.size(), header) != 0 && !(bytes.size() < header.size() && header.starts_with(bytes)))
    return failure(io(fmt::format("{} is not a Gregor metadata log; move it away and start again", legacy.string())));
  metadata_image shadow;
  size_t pos = std::min(bytes.size(), header.size());
  size_t frames = 0;
  while (pos < bytes.size()) {
    decoded_frame f = decode_frame(std::string_view(bytes).substr(pos));
    if (f.status != decode_status::ok) {
      lg().warn("{}: ignoring the torn tail at byte {} of {} ({})", legacy.string(), pos, bytes.size(), f.why);
      break;
    }
    // A shadow image follows the conversion so each old record is converted against the state
    // the records before it (in the same frame too) left.
    std::vector<md::any_record> out;
    for (const auto& r : f.records) {
      for (auto& k : shadow.from_legacy(r)) {
        std::string why = shadow.apply(k);
        if (!why.empty()) {
          lg().warn("{}: skipping an old record that does not apply: {}", legacy.string(), why);
          continue;
        }
        out.push_back(std::move(k));
      }
    }
    if (!out.empty()) {
      auto a = append(std::move(out));
      if (!a) return a;
    }
    ++frames;
    pos += f.frame_bytes;
  }
  auto a = append_bootstrap_features();
  if (!a) return a;
  std::error_code ec;
  storage::remove_path(legacy, ec);
  if (ec) return failure(io(fmt::format("converted {}, but cannot remove it: {}", legacy.string(), ec.message())));
  auto d = storage::sync_dir(_dir);
  if (!d) return failure(io(d.error().message));
  lg().warn("converted the former metadata log {} ({} operations) into Kafka's layout in {}; the old file is removed",
            legacy.string(), frames, _dir.string());
  return ok;
}

result<void, controller_error> metadata_store::append(std::vector<md::any_record> records) {
  std::vector<framed_record> framed;
  framed.reserve(records.size());
  for (auto& r : records) framed.push_back(frame(std::move(r)));
  const offset before = _log->log_end_offset();
  auto a = _log->append_records(_epoch, _clock.now_ms(), framed);
  if (!a) return failure(a.error());
  auto f = _log->flush();
  if (!f) {
    // Leave no unacknowledged batch for the next append to build on.
    (void)_log->truncate_to(before);
    return f;
  }
  for (const auto& r : framed) {
    std::string why = _image.apply(r.message);
    GREGOR_ASSERT(why.empty());  // every record was validated against the image before it was built
  }
  return ok;
}

result<void, controller_error> metadata_store::commit_records(const std::vector<md::api_message_and_version>& records) {
  if (records.empty()) return ok;
  std::vector<md::any_record> plain;
  plain.reserve(records.size());
  for (const auto& r : records) plain.push_back(r.message);
  return append(std::move(plain));
}

result<producer_id_block, controller_error> metadata_store::allocate_producer_ids(node_id broker, int32_t count) {
  GREGOR_ASSERT(count >= 1);
  const int64_t first = _image.next_producer_id();
  if (first > INT64_MAX - count) return failure(io("producer ids are exhausted"));
  md::producer_ids_record p;
  p.broker_id = broker.value();
  p.next_producer_id = first + count;
  auto w = append({p});
  if (!w) return failure(w.error());
  return producer_id_block{broker, first, count};
}

void metadata_store::register_broker(broker_info b) {
  _registered[b.id] = b;
  _image.put_broker(std::move(b));
}

std::vector<node_id> metadata_store::live_brokers() const {
  std::vector<node_id> out;
  for (const auto& [id, b] : _registered) out.push_back(id);
  if (out.empty()) out.push_back(_self);
  return out;
}

result<const topic_info*, controller_error> metadata_store::create_topic(const std::string& name, int32_t partitions,
                                                                         int16_t replication_factor,
                                                                         std::map<std::string, std::string> configs,
                                                                         bool validate_only) {
  if (std::string why = validate_topic_name(name); !why.empty()) return failure(err(controller_errc::invalid_topic, why));
  if (_image.topic(name)) return failure(err(controller_errc::topic_already_exists, fmt::format("Topic '{}' already exists.", name)));
  const std::string key = collision_key(name);
  for (const auto& [other, t] : _image.topics())
    if (collision_key(other) == key)
      return failure(err(controller_errc::invalid_topic,
                         fmt::format("Topic '{}' collides with existing topic '{}'.", name, other)));
  if (partitions < 1 || partitions > topic_partitions_max)
    return failure(err(controller_errc::invalid_partitions,
                       fmt::format("Number of partitions must be between 1 and {}, not {}.", topic_partitions_max, partitions)));
  const auto brokers = live_brokers();
  if (replication_factor < 1)
    return failure(err(controller_errc::invalid_replication_factor, "Replication factor must be larger than 0."));
  if (static_cast<size_t>(replication_factor) > brokers.size())
    return failure(err(controller_errc::invalid_replication_factor,
                       fmt::format("Unable to replicate the partition {} time(s): The target replication factor of {} "
                                   "cannot be reached because only {} broker(s) are registered.",
                                   replication_factor, replication_factor, brokers.size())));
  if (name.find_first_of("._") != std::string::npos)
    lg().warn("topic '{}': a name with '.' or '_' may collide in metric names with one using the other", name);
  if (validate_only) return static_cast<const topic_info*>(nullptr);

  uuid id;
  do id = uuid::random();
  while (_image.topic(id));
  std::vector<md::any_record> records;
  md::topic_record tr;
  tr.name = name;
  tr.topic_id = id;
  records.emplace_back(std::move(tr));
  for (int32_t p = 0; p < partitions; ++p) {
    records.emplace_back(new_partition(id, p, assign(p, replication_factor, brokers, id.lo)));
  }
  for (auto& [k, v] : configs) records.emplace_back(config(config_resource_topic, name, k, v));
  auto w = append(records);
  if (!w) return failure(w.error());
  lg().info("created topic '{}' ({}) with {} partitions, replication factor {}", name, id.to_base64(), partitions,
            replication_factor);
  return _image.topic(name);
}

result<void, controller_error> metadata_store::delete_topic(const std::string& name) {
  const topic_info* t = _image.topic(name);
  if (!t) return failure(err(controller_errc::unknown_topic, fmt::format("Topic '{}' does not exist.", name)));
  const uuid id = t->id;
  md::remove_topic_record rt;
  rt.topic_id = id;
  auto w = append({rt});
  if (!w) return failure(w.error());
  lg().info("deleted topic '{}' ({})", name, id.to_base64());
  return ok;
}

result<void, controller_error> metadata_store::create_partitions(const std::string& name, int32_t new_total,
                                                                 bool validate_only) {
  const topic_info* t = _image.topic(name);
  if (!t) return failure(err(controller_errc::unknown_topic, fmt::format("Topic '{}' does not exist.", name)));
  const auto current = static_cast<int32_t>(t->partitions.size());
  if (new_total < current)
    return failure(err(controller_errc::invalid_partitions,
                       fmt::format("Topic currently has {} partitions, which is higher than the requested {}.", current,
                                   new_total)));
  if (new_total == current)
    return failure(err(controller_errc::invalid_partitions,
                       fmt::format("Topic already has {} partitions.", current)));
  if (new_total > topic_partitions_max)
    return failure(err(controller_errc::invalid_partitions,
                       fmt::format("Number of partitions must be at most {}, not {}.", topic_partitions_max, new_total)));
  const auto brokers = live_brokers();
  const auto rf = static_cast<int16_t>(t->partitions.empty() ? 1 : t->partitions[0].replicas.size());
  if (rf < 1 || static_cast<size_t>(rf) > brokers.size())
    return failure(err(controller_errc::invalid_replication_factor,
                       fmt::format("The topic's replication factor of {} cannot be reached because only {} broker(s) "
                                   "are registered.",
                                   rf, brokers.size())));
  if (validate_only) return ok;
  std::vector<md::any_record> records;
  for (int32_t p = current; p < new_total; ++p) records.emplace_back(new_partition(t->id, p, assign(p, rf, brokers, t->id.lo)));
  auto w = append(records);
  if (!w) return failure(w.error());
  lg().info("topic '{}' now has {} partitions", name, new_total);
  return ok;
}

result<void, controller_error> metadata_store::set_topic_configs(const std::string& name,
                                                                 std::map<std::string, std::optional<std::string>> changes) {
  const topic_info* t = _image.topic(name);
  if (!t) return failure(err(controller_errc::unknown_topic, fmt::format("Topic '{}' does not exist.", name)));
  if (changes.empty()) return ok;
  std::vector<md::any_record> records;
  for (auto& [k, v] : changes) records.emplace_back(config(config_resource_topic, name, k, v));
  return append(std::move(records));
}

result<void, controller_error> metadata_store::set_feature_levels(std::vector<md::feature_level_record> records) {
  if (records.empty()) return ok;
  std::vector<md::any_record> out;
  for (auto& r : records) out.emplace_back(std::move(r));
  return append(std::move(out));
}

result<void, controller_error> metadata_store::set_broker_configs(
    const std::string& resource, std::map<std::string, std::optional<std::string>> changes) {
  if (changes.empty()) return ok;
  std::vector<md::any_record> records;
  for (auto& [k, v] : changes) records.emplace_back(config(config_resource_broker, resource, k, v));
  return append(std::move(records));
}

result<void, controller_error> metadata_store::change_partition(const std::string& name, partition_id p, node_id leader,
                                                                leader_epoch epoch, std::vector<node_id> isr) {
  const topic_info* t = _image.topic(name);
  if (!t || p.value() < 0 || static_cast<size_t>(p.value()) >= t->partitions.size())
    return failure(err(controller_errc::unknown_topic, fmt::format("Partition {}-{} does not exist.", name, p.value())));
  // Kafka's PartitionChangeRecord names a leader to start the next leader epoch; the same epoch
  // keeps the leader (an ISR change only).
  const auto& cur = t->partitions[static_cast<size_t>(p.value())];
  md::partition_change_record c;
  c.partition_id = p.value();
  c.topic_id = t->id;
  c.isr = raw(isr);
  if (epoch == cur.leader_epoch + 1) {
    c.leader = leader.value();
  } else if (epoch != cur.leader_epoch || leader != cur.leader) {
    return failure(err(controller_errc::invalid_partitions,
                       fmt::format("Partition {}-{} is at leader epoch {}: a change may keep it (same leader) or "
                                   "start the next one, not {}.",
                                   name, p.value(), cur.leader_epoch.value(), epoch.value())));
  }
  return append({std::move(c)});
}

}  // namespace gregor::controller

namespace gregor::controller {

result<snapshot_id, controller_error> metadata_store::write_snapshot() {
  const snapshot_id id{_log->log_end_offset(), _epoch};
  snapshot_options o;
  o.last_contained_log_timestamp_ms = _clock.now_ms();
  o.append_time_ms = _clock.now_ms();
  auto records = _image.to_records();
  auto w = _log->write_snapshot(id, records, o);
  if (!w) return failure(w.error());
  return id;
}

result<size_t, controller_error> metadata_store::delete_log_below_snapshot() { return _log->delete_below_snapshot(); }

}  // namespace gregor::controller
