#pragma once
// server::fetch_session_cache: KIP-227 incremental fetch sessions, the broker side (Kafka's
// FetchSessionCache, FetchSession and the fetch contexts of FetchSession.scala).
//
// A fetcher (a follower or a consumer) sends one full Fetch with session id 0 and epoch 0; when the
// cache has room the broker remembers the partitions it asked for under a new session id and answers
// with that id. From then on the fetcher sends (id, epoch 1, 2, ...) with only the partitions whose
// fetch parameters changed plus the partitions it forgets; the broker reads every partition of the
// session and answers only those with something new: records, a new high watermark or log start
// offset, an error, a diverging epoch or a preferred read replica. Epoch -1 (final) closes a session;
// a full request naming a session id closes that session first.
//
// Eviction (cache full, Kafka's rules): a session unused for eviction_ms goes first; otherwise a new
// session may evict the least valuable one it outranks. Sessions of followers are privileged; a
// session is worth more the more partitions it holds. Sessions younger than eviction_ms can only be
// evicted by privileged sessions, and privileged young sessions not at all. (Kafka 3.8+ shards its
// cache in 8 and divides the slots among the shards; one io thread needs no shards.)
//
// Pure: no I/O, time passed in, session ids from a seeded generator. Sessions are shared_ptr: a
// parked Fetch keeps its session's state even if the session is evicted meanwhile (Kafka's contexts
// hold the session object the same way); the fetcher then finds the id gone on its next request.
//
// Threading: the io thread only.
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "gregor/base/types.h"
#include "gregor/protocol/error_code.h"

namespace gregor::server {

inline constexpr int32_t invalid_fetch_session_id = 0;
inline constexpr int32_t initial_fetch_session_epoch = 0;
inline constexpr int32_t final_fetch_session_epoch = -1;
// Kafka's FetchSessionCache eviction age (KafkaServer.MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS; not
// a config in Kafka).
inline constexpr int64_t fetch_session_eviction_ms_default = 120000;

// The next epoch after `e` (Kafka's FetchMetadata.nextEpoch: wraps to 1, never 0 or -1).
int32_t next_fetch_session_epoch(int32_t e);

// A partition of a fetch. Requests up to v12 name topics (topic_id zero); v13+ identify them
// (topic empty), so one field of the two is always blank and the pair orders uniformly.
struct fetch_key {
  uuid topic_id;
  std::string topic;
  int32_t partition = 0;
  auto operator<=>(const fetch_key&) const = default;
};

// What a fetcher asked of one partition (the request's FetchPartition).
struct fetch_partition_params {
  fetch_key key;
  int64_t fetch_offset = 0;
  int64_t log_start_offset = -1;  // the fetcher's (followers)
  int32_t max_bytes = 0;
  int32_t current_leader_epoch = -1;
  int32_t last_fetched_epoch = -1;
};

// What the answer said of one partition, which decides whether an incremental response carries it.
struct fetch_partition_outcome {
  bool has_records = false;
  int64_t high_watermark = -1;
  int64_t log_start_offset = -1;
  bool error = false;
  bool diverging_epoch = false;
  bool preferred_read_replica = false;
};

class fetch_session {
 public:
  struct cached {
    fetch_partition_params params;
    int64_t high_watermark = -1;      // as last sent; -1 after an error so the next answer resends
    int64_t log_start_offset = -1;    // this broker's, as last sent
  };

  fetch_session(int32_t id, bool privileged, bool uses_topic_ids, int64_t now_ms)
      : _id(id), _privileged(privileged), _uses_topic_ids(uses_topic_ids), _creation_ms(now_ms),
        _last_used_ms(now_ms) {}

  int32_t id() const { return _id; }
  // The epoch the next incremental request must carry.
  int32_t epoch() const { return _epoch; }
  bool privileged() const { return _privileged; }
  bool uses_topic_ids() const { return _uses_topic_ids; }
  int64_t creation_ms() const { return _creation_ms; }
  int64_t last_used_ms() const { return _last_used_ms; }
  size_t size() const { return _partitions.size(); }
  // Partitions in the order they are read: an answered partition moves to the end (fairness).
  const std::list<cached>& partitions() const { return _partitions; }
  const cached* find(const fetch_key& k) const;

 private:
  friend class fetch_session_cache;
  void add_or_update(const fetch_partition_params& p);
  void forget(const fetch_key& k);
  // Whether an incremental answer carries partition k given what was read; records what it sends
  // and moves a sent partition to the end of the read order. False for a partition no longer here.
  bool respond(const fetch_key& k, const fetch_partition_outcome& o);

  int32_t _id;
  bool _privileged;
  bool _uses_topic_ids;
  int64_t _creation_ms;
  int64_t _last_used_ms;
  int32_t _epoch = 1;
  size_t _cached_size = 0;  // the size the cache's eviction index knows
  bool _in_cache = false;
  std::list<cached> _partitions;
  std::map<fetch_key, std::list<cached>::iterator> _index;
};

class fetch_session_cache {
 public:
  // slots_max: max.incremental.fetch.session.cache.slots (0 = no sessions).
  fetch_session_cache(size_t slots_max, int64_t eviction_ms, uint64_t seed);

  // How one Fetch is served, from its session id and epoch (Kafka's FetchManager.newContext).
  struct context {
    enum class kind { sessionless, full, incremental, error };
    kind what = kind::sessionless;
    protocol::error_code error = protocol::error_code::none;  // kind::error
    // What to read, in order: the request's partitions, or (incremental) the whole session's.
    std::vector<fetch_partition_params> partitions;
    std::shared_ptr<fetch_session> session;  // kind::incremental
    bool privileged = false;
    bool uses_topic_ids = false;
  };
  // version: the Fetch version (v7+ carries sessions; v13+ uses topic ids). privileged: a follower.
  context open(int16_t version, int32_t session_id, int32_t session_epoch, bool privileged,
               std::vector<fetch_partition_params> requested, const std::vector<fetch_key>& forgotten,
               int64_t now_ms);
  // Once the answer is final, one outcome per ctx.partitions entry. Returns the session id to send
  // (a new session for a full context when there is room, else 0) and sets keep[i] for the
  // partitions the response carries (all of them unless incremental).
  int32_t finish(const context& ctx, std::span<const fetch_partition_outcome> outcomes, std::vector<bool>& keep,
                 int64_t now_ms);

  size_t size() const { return _sessions.size(); }
  size_t slots_max() const { return _slots_max; }
  // Partitions cached over all sessions (Kafka's NumIncrementalFetchPartitionsCached).
  size_t partitions_cached() const { return _partitions_cached; }
  uint64_t evictions() const { return _evictions; }
  uint64_t created() const { return _created; }
  const fetch_session* find(int32_t id) const;

 private:
  // (privileged, size, id): the lower, the cheaper to evict.
  using evictable_key = std::tuple<bool, size_t, int32_t>;
  static evictable_key key_of(const fetch_session& s) { return {s.privileged(), s._cached_size, s.id()}; }

  void touch(fetch_session& s, int64_t now_ms);
  void remove(int32_t id);
  // Makes room for a session of `key` (privileged, size); true when a session was evicted.
  bool try_evict(const evictable_key& key, int64_t now_ms);
  int32_t new_session_id();

  size_t _slots_max;
  int64_t _eviction_ms;
  std::mt19937_64 _rng;
  std::map<int32_t, std::shared_ptr<fetch_session>> _sessions;
  std::set<std::pair<int64_t, int32_t>> _last_used;  // (last used ms, id)
  std::set<evictable_key> _evictable_by_all;         // sessions older than eviction_ms
  std::set<evictable_key> _evictable_by_privileged;  // the above plus every unprivileged session
  size_t _partitions_cached = 0;
  uint64_t _evictions = 0;
  uint64_t _created = 0;
};

}  // namespace gregor::server
