// meta.properties: Kafka's per-log-directory identity file (Java properties syntax, one key=value
// per line, '#' comments). Written atomically: temp file, fsync, rename, fsync the directory.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "gregor/base/log.h"
#include "gregor/controller/metadata_store.h"
#include "gregor/storage/file.h"

namespace gregor::controller {
namespace {

controller_error io(std::string msg) { return controller_error{controller_errc::io_error, std::move(msg)}; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool parse_i32(std::string_view s, int32_t& out) {
  if (s.empty() || s.size() > 11) return false;
  int64_t v = 0;
  bool neg = false;
  size_t i = 0;
  if (s[0] == '-') neg = true, i = 1;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  v = neg ? -v : v;
  if (v < INT32_MIN || v > INT32_MAX) return false;
  out = static_cast<int32_t>(v);
  return true;
}

}  // namespace

result<std::optional<meta_properties>, controller_error> read_meta_properties(const std::filesystem::path& dir) {
  const auto path = dir / "meta.properties";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<meta_properties>{};
  std::ifstream in(path);
  if (!in) return failure(io(fmt::format("cannot read {}", path.string())));
  meta_properties m;
  m.version = -1;
  bool has_node = false;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view l = trim(line);
    if (l.empty() || l[0] == '#' || l[0] == '!') continue;
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) return failure(io(fmt::format("{}: malformed line '{}'", path.string(), l)));
    std::string_view key = trim(l.substr(0, eq)), value = trim(l.substr(eq + 1));
    int32_t v = 0;
    if (key == "version") {
      if (!parse_i32(value, v)) return failure(io(fmt::format("{}: bad version '{}'", path.string(), value)));
      m.version = v;
    } else if (key == "cluster.id") {
      m.cluster_id = std::string(value);
    } else if (key == "node.id" || key == "broker.id") {
      if (!parse_i32(value, v)) return failure(io(fmt::format("{}: bad {} '{}'", path.string(), key, value)));
      m.node_id = node_id(v);
      has_node = true;
    } else if (key == "directory.id") {
      m.directory_id = std::string(value);
    }  // other keys (from newer Kafka versions) are kept by Kafka; we ignore them
  }
  if (m.version != 0 && m.version != 1)
    return failure(io(fmt::format("{}: unsupported version {}", path.string(), m.version)));
  if (!has_node) return failure(io(fmt::format("{}: no node.id", path.string())));
  return std::optional<meta_properties>(std::move(m));
}

result<void, controller_error> write_meta_properties(const std::filesystem::path& dir, const meta_properties& m) {
  std::string text = "#\n#Written by Gregor\n";
  text += fmt::format("node.id={}\n", m.node_id.value());
  if (!m.directory_id.empty()) text += fmt::format("directory.id={}\n", m.directory_id);
  text += fmt::format("version={}\n", m.version);
  // A cluster-mode node that has not learnt its cluster's id yet writes none (the first leader
  // creates it in the metadata log, and the node writes it here when it applies it).
  if (!m.cluster_id.empty()) text += fmt::format("cluster.id={}\n", m.cluster_id);
  // storage's atomic write: meta.properties.tmp, fsync, rename, fsync the directory (a failed
  // directory fsync is an error too: the file may not survive a power cut).
  auto w = storage::write_file_atomic(dir / "meta.properties", text);
  if (!w) return failure(io(fmt::format("cannot write {}: {}", (dir / "meta.properties").string(), w.error().message)));
  return ok_t{};
}

result<std::string, controller_error> claim_meta_properties(const std::filesystem::path& log_dir, node_id self,
                                                             const std::string& cluster_id_or_empty,
                                                             const std::string& new_cluster_id) {
  auto existing = read_meta_properties(log_dir);
  if (!existing) return failure(existing.error());
  std::string cluster_id = cluster_id_or_empty;
  if (existing.value()) {
    const meta_properties& m = *existing.value();
    if (m.node_id != self)
      return failure(controller_error{controller_errc::inconsistent_cluster_id,
                                      fmt::format("{}/meta.properties belongs to node {}, but node.id is {}",
                                                  log_dir.string(), m.node_id.value(), self.value())});
    if (!cluster_id.empty() && !m.cluster_id.empty() && m.cluster_id != cluster_id)
      return failure(controller_error{controller_errc::inconsistent_cluster_id,
                                      fmt::format("{}/meta.properties belongs to cluster '{}', but cluster.id is '{}'",
                                                  log_dir.string(), m.cluster_id, cluster_id)});
    if (cluster_id.empty()) cluster_id = m.cluster_id;
  }
  if (cluster_id.empty()) cluster_id = new_cluster_id;
  if (!existing.value() || (existing.value()->cluster_id.empty() && !cluster_id.empty())) {
    meta_properties m;
    m.cluster_id = cluster_id;
    m.node_id = self;
    // The directory id stays what it was (AddRaftVoter names the replica by it).
    m.directory_id = existing.value() && !existing.value()->directory_id.empty() ? existing.value()->directory_id
                                                                               : uuid::random().to_base64();
    auto w = write_meta_properties(log_dir, m);
    if (!w) return failure(w.error());
    log::get("controller").info("wrote {}/meta.properties: cluster.id={} node.id={}", log_dir.string(),
                                cluster_id.empty() ? "(not known yet)" : cluster_id, self.value());
  }
  return cluster_id;
}

}  // namespace gregor::controller
