#include "fetch_session.h"

#include "gregor/base/assert.h"

namespace gregor::server {
using protocol::error_code;

int32_t next_fetch_session_epoch(int32_t e) {
  if (e < 0) return final_fetch_session_epoch;  // the final epoch stays final
  if (e == INT32_MAX) return 1;
  return e + 1;
}

const fetch_session::cached* fetch_session::find(const fetch_key& k) const {
  auto it = _index.find(k);
  return it == _index.end() ? nullptr : &*it->second;
}

void fetch_session::add_or_update(const fetch_partition_params& p) {
  auto it = _index.find(p.key);
  if (it != _index.end()) {
    it->second->params = p;  // the fetcher's new offset, epochs, max bytes
    return;
  }
  _partitions.push_back(cached{p});
  _index.emplace(p.key, std::prev(_partitions.end()));
}

void fetch_session::forget(const fetch_key& k) {
  auto it = _index.find(k);
  if (it == _index.end()) return;
  _partitions.erase(it->second);
  _index.erase(it);
}

bool fetch_session::respond(const fetch_key& k, const fetch_partition_outcome& o) {
  auto it = _index.find(k);
  if (it == _index.end()) return false;
  cached& c = *it->second;
  bool must = o.has_records || o.diverging_epoch || o.preferred_read_replica;
  if (c.high_watermark != o.high_watermark) {
    must = true;
    c.high_watermark = o.high_watermark;
  }
  if (c.log_start_offset != o.log_start_offset) {
    must = true;
    c.log_start_offset = o.log_start_offset;
  }
  if (o.error) {
    // Sent every time; -1 makes the first answer after the error clears resend the partition.
    c.high_watermark = -1;
    must = true;
  }
  if (must) _partitions.splice(_partitions.end(), _partitions, it->second);
  return must;
}

fetch_session_cache::fetch_session_cache(size_t slots_max, int64_t eviction_ms, uint64_t seed)
    : _slots_max(slots_max), _eviction_ms(eviction_ms), _rng(seed) {}

const fetch_session* fetch_session_cache::find(int32_t id) const {
  auto it = _sessions.find(id);
  return it == _sessions.end() ? nullptr : it->second.get();
}

fetch_session_cache::context fetch_session_cache::open(int16_t version, int32_t session_id, int32_t session_epoch,
                                                       bool privileged, std::vector<fetch_partition_params> requested,
                                                       const std::vector<fetch_key>& forgotten, int64_t now_ms) {
  context ctx;
  ctx.privileged = privileged;
  ctx.uses_topic_ids = version >= 13;
  if (version < 7) {  // no session fields: Kafka's legacy metadata, sessionless
    ctx.partitions = std::move(requested);
    return ctx;
  }
  if (session_epoch == initial_fetch_session_epoch || session_epoch == final_fetch_session_epoch) {
    // A full request closes the session it names.
    if (session_id != invalid_fetch_session_id) remove(session_id);
    ctx.what = session_epoch == final_fetch_session_epoch ? context::kind::sessionless : context::kind::full;
    ctx.partitions = std::move(requested);
    return ctx;
  }
  auto it = _sessions.find(session_id);
  if (it == _sessions.end()) {
    ctx.what = context::kind::error;
    ctx.error = error_code::fetch_session_id_not_found;
    return ctx;
  }
  fetch_session& s = *it->second;
  if (s.epoch() != session_epoch) {
    ctx.what = context::kind::error;
    ctx.error = error_code::invalid_fetch_session_epoch;
    return ctx;
  }
  if (s.uses_topic_ids() != ctx.uses_topic_ids) {
    ctx.what = context::kind::error;
    ctx.error = error_code::fetch_session_topic_id_error;
    return ctx;
  }
  for (const auto& p : requested) s.add_or_update(p);
  for (const auto& k : forgotten) s.forget(k);
  if (s.size() == 0) {
    // Everything forgotten: the session ends and the (empty) request is served without one.
    remove(session_id);
    ctx.partitions = std::move(requested);
    return ctx;
  }
  touch(s, now_ms);
  s._epoch = next_fetch_session_epoch(s._epoch);
  ctx.what = context::kind::incremental;
  ctx.session = it->second;
  ctx.partitions.reserve(s.size());
  for (const auto& c : s.partitions()) ctx.partitions.push_back(c.params);
  return ctx;
}

int32_t fetch_session_cache::finish(const context& ctx, std::span<const fetch_partition_outcome> outcomes,
                                    std::vector<bool>& keep, int64_t now_ms) {
  GREGOR_ASSERT(outcomes.size() == ctx.partitions.size());
  keep.assign(ctx.partitions.size(), true);
  switch (ctx.what) {
    case context::kind::sessionless:
    case context::kind::error:
      return invalid_fetch_session_id;
    case context::kind::incremental:
      for (size_t i = 0; i < outcomes.size(); ++i) keep[i] = ctx.session->respond(ctx.partitions[i].key, outcomes[i]);
      return ctx.session->id();
    case context::kind::full:
      break;
  }
  const evictable_key want{ctx.privileged, ctx.partitions.size(), 0};
  if (_sessions.size() >= _slots_max && !try_evict(want, now_ms)) return invalid_fetch_session_id;
  auto s = std::make_shared<fetch_session>(new_session_id(), ctx.privileged, ctx.uses_topic_ids, now_ms);
  for (size_t i = 0; i < outcomes.size(); ++i) {
    s->add_or_update(ctx.partitions[i]);
    auto& c = s->_partitions.back();
    c.high_watermark = outcomes[i].error ? -1 : outcomes[i].high_watermark;
    c.log_start_offset = outcomes[i].log_start_offset;
  }
  _sessions.emplace(s->id(), s);
  ++_created;
  touch(*s, now_ms);
  return s->id();
}

void fetch_session_cache::touch(fetch_session& s, int64_t now_ms) {
  if (s._in_cache) {
    _last_used.erase({s._last_used_ms, s.id()});
    _evictable_by_all.erase(key_of(s));
    _evictable_by_privileged.erase(key_of(s));
    _partitions_cached -= s._cached_size;
  }
  s._in_cache = true;
  s._last_used_ms = now_ms;
  s._cached_size = s.size();
  _last_used.insert({s._last_used_ms, s.id()});
  const bool old = now_ms - s.creation_ms() > _eviction_ms;
  if (!s.privileged() || old) _evictable_by_privileged.insert(key_of(s));
  if (old) _evictable_by_all.insert(key_of(s));
  _partitions_cached += s._cached_size;
}

void fetch_session_cache::remove(int32_t id) {
  auto it = _sessions.find(id);
  if (it == _sessions.end()) return;
  fetch_session& s = *it->second;
  _last_used.erase({s._last_used_ms, s.id()});
  _evictable_by_all.erase(key_of(s));
  _evictable_by_privileged.erase(key_of(s));
  _partitions_cached -= s._cached_size;
  s._in_cache = false;
  _sessions.erase(it);
}

bool fetch_session_cache::try_evict(const evictable_key& key, int64_t now_ms) {
  if (_last_used.empty()) return false;
  // A session unused for longer than the eviction age goes first, whatever its worth.
  const auto [last_used_ms, stale_id] = *_last_used.begin();
  if (now_ms - last_used_ms > _eviction_ms) {
    remove(stale_id);
    ++_evictions;
    return true;
  }
  const auto& candidates = std::get<0>(key) ? _evictable_by_privileged : _evictable_by_all;
  if (candidates.empty() || key < *candidates.begin()) return false;
  remove(std::get<2>(*candidates.begin()));
  ++_evictions;
  return true;
}

int32_t fetch_session_cache::new_session_id() {
  for (;;) {
    const auto id = int32_t(_rng() & 0x7fffffffu);
    if (id != invalid_fetch_session_id && !_sessions.contains(id)) return id;
  }
}

}  // namespace gregor::server
