// DescribeLogDirs (key 35): this broker's log directory and the replicas in it, for tooling
// (`kafka-log-dirs.sh`, Admin.describeLogDirs). v1 is Kafka 4's minimum; v2 is flexible; v3 adds
// the top-level error code; v4 the volume's TotalBytes and UsableBytes (statvfs, as Java's
// FileStore reports them); v5 IsCordoned (never set: log directories cannot be cordoned here).
//
// As Kafka's broker answers: null Topics describes every replica, named partitions this broker has
// no replica of are left out, topics with no partition left are dropped. OffsetLag is Kafka's
// max(0, high watermark - log end offset) of the replica (0 on a leader; a follower's high
// watermark is capped at its own log end offset, as in Kafka). IsFutureKey is always false (no
// AlterReplicaLogDirs). Only the first of log.dirs holds data (core::open), so it is the one
// directory described. Needs Describe on the cluster (else CLUSTER_AUTHORIZATION_FAILED and no
// directory, as Kafka).
#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "gregor/protocol/messages/describe_log_dirs.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::describe_log_dirs_request;
using resp_t = protocol::describe_log_dirs_response;
using protocol::error_code;

// Kafka's OffsetLag of a current (not future) log.
int64_t offset_lag(const replication::partition& p) {
  return std::max<int64_t>(0, p.high_watermark().value() - p.log().log_end_offset().value());
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  if (!cluster_authorized(ctx, acl_op::describe)) {
    resp.error_code = code(error_code::cluster_authorization_failed);
    co_return resp;
  }
  auto& dir = resp.results.emplace_back();
  std::error_code ec;
  const auto path = std::filesystem::absolute(c.logs().dir(), ec).lexically_normal();
  dir.log_dir = (ec ? c.logs().dir() : path).string();
  // Kafka strips a trailing separator too (Path.toAbsolutePath of "/data/").
  while (dir.log_dir.size() > 1 && dir.log_dir.back() == '/') dir.log_dir.pop_back();
  struct statvfs vfs {};
  if (::statvfs(dir.log_dir.c_str(), &vfs) != 0) {
    dir.error_code = code(error_code::kafka_storage_error);
    co_return resp;
  }
  dir.total_bytes = int64_t(vfs.f_blocks) * int64_t(vfs.f_frsize);
  dir.usable_bytes = int64_t(vfs.f_bavail) * int64_t(vfs.f_frsize);

  std::optional<std::set<topic_partition>> wanted;
  if (req.topics) {
    wanted.emplace();
    for (const auto& t : *req.topics)
      for (int32_t index : t.partitions) wanted->insert(topic_partition{t.topic, partition_id{index}});
  }
  // partition_manager iterates in (topic, partition) order, so each topic's replicas are adjacent.
  c.partitions().for_each([&](replication::partition& p) {
    if (wanted && !wanted->contains(p.tp())) return;
    if (dir.topics.empty() || dir.topics.back().name != p.tp().topic) dir.topics.emplace_back().name = p.tp().topic;
    auto& out = dir.topics.back().partitions.emplace_back();
    out.partition_index = p.tp().partition.value();
    out.partition_size = int64_t(p.log().size_bytes());
    out.offset_lag = offset_lag(p);
    out.is_future_key = false;
  });
  co_return resp;
}

}  // namespace

api_route describe_log_dirs_route() {
  return make_route<req_t, resp_t, &handle, 1, 5>("DescribeLogDirs");
}

}  // namespace gregor::server
