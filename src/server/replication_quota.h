#pragma once
// server::replication_quota: Kafka's reassignment throttles (ReplicationQuotaManager), pure logic.
//
// A broker keeps two byte-rate quotas: the leader one (leader.replication.throttled.rate), over
// the bytes it returns to followers for throttled partitions, and the follower one
// (follower.replication.throttled.rate), over the bytes its fetchers append for throttled
// partitions. A partition is throttled on this broker when the topic's
// leader/follower.replication.throttled.replicas lists "*" or a "partition:broker" pair naming it
// and this broker (kafka-reassign-partitions --throttle lists the current replicas as leaders and
// the moving ones as followers). Once a quota's rate exceeds its bound:
//   - the leader answers a follower's Fetch without records for throttled partitions the follower
//     is not in the ISR of (replicas in the ISR are never throttled);
//   - the follower leaves out of its Fetch the throttled partitions it is not caught up on (log
//     end offset below the leader's high watermark).
// Both record every throttled partition's bytes, in the ISR or not, as Kafka does.
//
// The rate is Kafka's Rate over a SampledStat: `samples` windows of `window_ms`
// (replication.quota.window.num = 11, replication.quota.window.size.seconds = 1); samples older
// than samples * window_ms are dropped, and the elapsed time divided by is at least
// (samples - 1) whole windows, so a first burst counts as spread over ten seconds.
//
// Threading: the owner's (the io thread).
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "gregor/base/types.h"

namespace gregor::controller {
class metadata_image;
}

namespace gregor::server {

class rate_quota {
 public:
  explicit rate_quota(int64_t window_ms = 1000, int samples = 11);

  void record(int64_t bytes, int64_t now_ms);
  // Bytes per second over the retained samples, as of now_ms.
  double rate(int64_t now_ms) const;
  // True when `bound` (bytes/s) is set (below INT64_MAX, Kafka's "no throttle") and the rate
  // exceeds it.
  bool exceeded(int64_t bound, int64_t now_ms) const;

 private:
  struct sample {
    int64_t start_ms;
    int64_t bytes;
  };
  void purge(int64_t now_ms);

  int64_t _window_ms;
  int _samples;
  std::deque<sample> _recent;  // oldest first, at most _samples
};

// Whether `list` (a leader/follower.replication.throttled.replicas value: "", "*", or
// "partition:broker,...") throttles `partition` on `broker`. Whitespace around items is ignored;
// a malformed item (the config validator refuses them) throttles nothing.
bool replica_throttled(std::string_view list, int32_t partition, node_id broker);
// The same for the topic's `list_key` config (leader.replication.throttled.replicas on the
// leader's Fetch path, follower.replication.throttled.replicas in the follower's fetcher).
bool replica_throttled(const controller::metadata_image& image, std::string_view list_key, const std::string& topic,
                       int32_t partition, node_id broker);

// The two quotas of one broker.
struct replication_quotas {
  rate_quota leader;
  rate_quota follower;
};

}  // namespace gregor::server
