#include "gregor/controller/metadata_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "gregor/base/log.h"

namespace gregor::controller {
namespace {

constexpr const char* k_metadata_dir = "__cluster_metadata-0";
constexpr const char* k_metadata_file = "metadata.log";

spdlog::logger& lg() { return log::get("controller"); }

controller_error err(controller_errc c, std::string msg) { return controller_error{c, std::move(msg)}; }
controller_error io(std::string msg) { return err(controller_errc::io_error, std::move(msg)); }

std::string file_header() {
  std::string h(metadata_file_magic);
  h.push_back(static_cast<char>(metadata_file_version));
  return h;
}

bool pwrite_all(int fd, std::string_view data, uint64_t at) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(at));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
    at += static_cast<uint64_t>(n);
  }
  return true;
}

void fsync_dir(const std::filesystem::path& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// Topics whose names differ only in '.' versus '_' collide in metric names; Kafka refuses them.
std::string collision_key(std::string_view name) {
  std::string k(name);
  std::replace(k.begin(), k.end(), '.', '_');
  return k;
}

bool is_internal_topic(std::string_view name) {
  return name == "__consumer_offsets" || name == "__transaction_state";
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
  if (_fd >= 0) ::close(_fd);
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
  std::filesystem::create_directories(log_dir, ec);
  if (ec) return failure(io(fmt::format("cannot create log dir {}: {}", log_dir.string(), ec.message())));

  auto existing = read_meta_properties(log_dir);
  if (!existing) return failure(existing.error());
  std::string cluster_id = cluster_id_or_empty;
  if (existing.value()) {
    const meta_properties& m = *existing.value();
    if (m.node_id != self)
      return failure(err(controller_errc::inconsistent_cluster_id,
                         fmt::format("{}/meta.properties belongs to node {}, but node.id is {}", log_dir.string(),
                                     m.node_id.value(), self.value())));
    if (!cluster_id.empty() && !m.cluster_id.empty() && m.cluster_id != cluster_id)
      return failure(err(controller_errc::inconsistent_cluster_id,
                         fmt::format("{}/meta.properties belongs to cluster '{}', but cluster.id is '{}'",
                                     log_dir.string(), m.cluster_id, cluster_id)));
    if (cluster_id.empty()) cluster_id = m.cluster_id;
  }
  if (cluster_id.empty()) cluster_id = uuid::random().to_base64();
  if (!existing.value() || existing.value()->cluster_id.empty()) {
    meta_properties m;
    m.cluster_id = cluster_id;
    m.node_id = self;
    m.directory_id = uuid::random().to_base64();
    auto w = write_meta_properties(log_dir, m);
    if (!w) return failure(w.error());
    lg().info("wrote {}/meta.properties: cluster.id={} node.id={}", log_dir.string(), cluster_id, self.value());
  }

  auto dir = log_dir / k_metadata_dir;
  std::filesystem::create_directories(dir, ec);
  if (ec) return failure(io(fmt::format("cannot create {}: {}", dir.string(), ec.message())));
  std::unique_ptr<metadata_store> s(new metadata_store(dir, self, clk));
  s->_image.set_identity(cluster_id, self);
  const auto path = dir / k_metadata_file;
  s->_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (s->_fd < 0) return failure(io(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno))));
  fsync_dir(dir);
  auto r = s->replay();
  if (!r) return failure(r.error());
  return s;
}

result<void, controller_error> metadata_store::replay() {
  const auto path = _dir / k_metadata_file;
  struct stat st {};
  if (::fstat(_fd, &st) != 0) return failure(io(fmt::format("cannot stat {}: {}", path.string(), std::strerror(errno))));
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::pread(_fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failure(io(fmt::format("cannot read {}: {}", path.string(), std::strerror(errno))));
    got += static_cast<size_t>(n);
  }
  const std::string header = file_header();
  if (bytes.size() < header.size()) {
    // A new file, or one torn while its header was written: (re)write the header.
    if (header.compare(0, bytes.size(), bytes) != 0)
      return failure(io(fmt::format("{} is not a Gregor metadata log", path.string())));
    if (::ftruncate(_fd, 0) != 0 || !pwrite_all(_fd, header, 0) || ::fdatasync(_fd) != 0)
      return failure(io(fmt::format("cannot initialise {}: {}", path.string(), std::strerror(errno))));
    _size_bytes = header.size();
    return ok;
  }
  if (bytes.compare(0, header.size(), header) != 0)
    return failure(io(fmt::format("{} is not a Gregor metadata log (version {} expected)", path.string(),
                                  metadata_file_version)));
  size_t pos = header.size();
  size_t frames = 0, records = 0;
  while (pos < bytes.size()) {
    decoded_frame f = decode_frame(std::string_view(bytes).substr(pos));
    if (f.status != decode_status::ok) {
      lg().warn("{}: truncating torn tail at byte {} of {} ({})", path.string(), pos, bytes.size(), f.why);
      if (::ftruncate(_fd, static_cast<off_t>(pos)) != 0 || ::fdatasync(_fd) != 0)
        return failure(io(fmt::format("cannot truncate {}: {}", path.string(), std::strerror(errno))));
      break;
    }
    for (const auto& r : f.records) {
      std::string why = _image.apply(r);
      if (!why.empty()) lg().error("{}: record at byte {} does not apply: {}", path.string(), pos, why);
      ++records;
    }
    ++frames;
    pos += f.frame_bytes;
  }
  _size_bytes = pos;
  lg().info("replayed {} metadata records in {} frames: {} topics", records, frames, _image.topics().size());
  return ok;
}

result<void, controller_error> metadata_store::append(const std::vector<metadata_record>& records) {
  const std::string frame = encode_frame(records);
  if (!pwrite_all(_fd, frame, _size_bytes) || ::fdatasync(_fd) != 0) {
    const int saved = errno;
    // Leave no partial frame behind for the next append to build on.
    if (::ftruncate(_fd, static_cast<off_t>(_size_bytes)) != 0)
      lg().error("cannot truncate the metadata log after a failed write: {}", std::strerror(errno));
    return failure(io(fmt::format("cannot write the metadata log: {}", std::strerror(saved))));
  }
  _size_bytes += frame.size();
  for (const auto& r : records) {
    std::string why = _image.apply(r);
    GREGOR_ASSERT(why.empty());  // every record was validated against the image before it was built
  }
  return ok;
}

result<producer_id_block, controller_error> metadata_store::allocate_producer_ids(node_id broker, int32_t count) {
  GREGOR_ASSERT(count >= 1);
  const int64_t first = _image.next_producer_id();
  if (first > INT64_MAX - count) return failure(io("producer ids are exhausted"));
  auto w = append({producer_ids_record{broker, first + count}});
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
  std::vector<metadata_record> records;
  records.push_back(topic_record{name, id, is_internal_topic(name)});
  for (int32_t p = 0; p < partitions; ++p) {
    auto replicas = assign(p, replication_factor, brokers, id.lo);
    records.push_back(partition_record{id, partition_id(p), replicas.front(), leader_epoch(0), replicas, replicas});
  }
  for (auto& [k, v] : configs) records.push_back(config_record{id, k, v});
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
  auto w = append({remove_topic_record{id}});
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
  std::vector<metadata_record> records;
  for (int32_t p = current; p < new_total; ++p) {
    auto replicas = assign(p, rf, brokers, t->id.lo);
    records.push_back(partition_record{t->id, partition_id(p), replicas.front(), leader_epoch(0), replicas, replicas});
  }
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
  std::vector<metadata_record> records;
  for (auto& [k, v] : changes) records.push_back(config_record{t->id, k, v});
  return append(records);
}

result<void, controller_error> metadata_store::set_broker_configs(
    const std::string& resource, std::map<std::string, std::optional<std::string>> changes) {
  if (changes.empty()) return ok;
  std::vector<metadata_record> records;
  for (auto& [k, v] : changes) records.push_back(broker_config_record{resource, k, v});
  return append(records);
}

result<void, controller_error> metadata_store::change_partition(const std::string& name, partition_id p, node_id leader,
                                                                leader_epoch epoch, std::vector<node_id> isr) {
  const topic_info* t = _image.topic(name);
  if (!t || p.value() < 0 || static_cast<size_t>(p.value()) >= t->partitions.size())
    return failure(err(controller_errc::unknown_topic, fmt::format("Partition {}-{} does not exist.", name, p.value())));
  return append({partition_change_record{t->id, p, leader, epoch, std::move(isr)}});
}

}  // namespace gregor::controller
