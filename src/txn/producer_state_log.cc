#include "gregor/txn/producer_state_log.h"

#include <algorithm>

#include "gregor/base/log.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/storage/file.h"
#include "gregor/storage/segment.h"

namespace gregor::txn {
namespace fs = std::filesystem;
namespace {

spdlog::logger& lg() {
  return log::get("txn");
}

constexpr size_t replay_read_bytes = 1 << 20;

bool is_offset_stem(const std::string& s) {
  return s.size() == 20 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  storage::remove_path(p, ec);
  if (ec) lg().warn("cannot remove {}: {}", p.string(), ec.message());
}

}  // namespace

fs::path snapshot_path(const fs::path& dir, offset at) {
  return dir / (storage::segment_file_stem(at.value()) + ".snapshot");
}

std::vector<int64_t> list_snapshots(const fs::path& dir) {
  std::vector<int64_t> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    if (p.extension() != ".snapshot") continue;
    std::string stem = p.stem().string();
    if (!is_offset_stem(stem)) continue;
    out.push_back(std::stoll(stem));
  }
  std::sort(out.begin(), out.end());
  return out;
}

result<void, storage::storage_error> write_snapshot(const fs::path& dir, producer_state& state,
                                                    offset at) {
  if (at > state.end_offset()) state.set_end_offset(at);
  auto w = storage::write_file_atomic(snapshot_path(dir, at), state.encode_snapshot());
  if (!w) return w;
  auto all = list_snapshots(dir);
  for (size_t i = 0; i + snapshots_retained_max < all.size(); ++i)
    remove_quietly(snapshot_path(dir, offset(all[i])));
  return ok;
}

size_t delete_snapshots_before(const fs::path& dir, offset log_start) {
  size_t n = 0;
  for (int64_t at : list_snapshots(dir)) {
    if (at >= log_start.value()) break;
    remove_quietly(snapshot_path(dir, offset(at)));
    ++n;
  }
  return n;
}

size_t on_log_start_moved(const fs::path& dir, producer_state& state, offset log_start) {
  const size_t dropped = state.truncate_head(log_start);
  delete_snapshots_before(dir, log_start);
  return dropped;
}

result<rebuild_stats, storage::storage_error> rebuild(storage::partition_log& log,
                                                      producer_state& state) {
  rebuild_stats stats;
  state.clear();
  const offset log_end = log.log_end_offset();
  // The aborted-transaction index is complete only below this: replay at least from there.
  const offset usable_max = std::min(log_end, log.txn_index_complete_below());
  auto snaps = list_snapshots(log.dir());
  for (auto it = snaps.rbegin(); it != snaps.rend(); ++it) {
    const fs::path p = snapshot_path(log.dir(), offset(*it));
    if (*it > log_end.value()) {
      lg().info("{}: deleting producer snapshot {} past the log end {}", log.tp(),
                p.filename().string(), log_end);
      remove_quietly(p);
      continue;
    }
    if (*it > usable_max.value()) continue;  // kept: a later rebuild may use it
    auto bytes = storage::read_small_file(p, 256u << 20);
    if (bytes) {
      auto d = state.decode_snapshot(*bytes);
      if (d && state.end_offset().value() == *it) {
        stats.snapshot_offset = *it;
        break;
      }
      lg().warn("{}: producer snapshot {} is unusable ({}); deleting it", log.tp(),
                p.filename().string(),
                d ? std::string("end offset does not match its name") : d.error());
    } else {
      lg().warn("{}: cannot read producer snapshot {}: {}; deleting it", log.tp(),
                p.filename().string(), bytes.error().message);
    }
    state.clear();
    remove_quietly(p);
  }

  auto c = catch_up(log, state);
  if (!c) return failure{c.error()};
  stats.batches_replayed = *c;
  stats.producers = int64_t(state.producers().size());
  return stats;
}

result<int64_t, storage::storage_error> catch_up(storage::partition_log& log, producer_state& state) {
  int64_t replayed = 0;
  const offset log_end = log.log_end_offset();
  offset from = std::max(state.end_offset(), log.log_start_offset());
  // Every marker from here on is replayed and indexed again.
  if (auto t = log.remove_aborted_txns_from(from); !t) return failure{t.error()};
  while (from < log_end) {
    auto r = log.read(from, replay_read_bytes, log_end, true);
    if (!r) return failure{r.error()};
    if (r->data.empty()) break;
    const offset before = from;
    std::span<const uint8_t> data(r->data);
    size_t pos = 0;
    while (pos < data.size()) {
      auto h = protocol::parse_batch_header(data.subspan(pos));
      if (!h || h->batch_length <= 0 || h->total_size() > data.size() - pos) break;
      const auto whole = data.subspan(pos, h->total_size());
      pos += h->total_size();
      if (h->last_offset() < from.value()) continue;  // the batch holding `from` starts before it
      if (h->is_control()) {
        auto done = replay_control_batch(state, *h, whole);
        if (done && done->aborted) {
          auto a = log.add_aborted_txn(storage::aborted_txn{done->pid.value(), done->first_offset.value(),
                                                            done->last_offset.value(),
                                                            state.last_stable_offset_after(*done).value()});
          if (!a) return failure{a.error()};
        }
      } else {
        batch_identity b{producer_id(h->producer_id), producer_epoch(h->producer_epoch),
                         h->base_sequence, h->last_offset_delta, h->is_transactional()};
        state.replay(b, offset(h->base_offset), offset(h->last_offset()), h->max_timestamp);
      }
      from = offset(h->last_offset() + 1);
      ++replayed;
    }
    if (from == before) break;  // nothing usable: do not spin
  }
  state.set_end_offset(log_end);
  state.truncate_head(log.log_start_offset());  // a snapshot may predate retention/DeleteRecords
  log.set_txn_index_complete_below(log_end);
  return replayed;
}

std::optional<completed_txn> replay_control_batch(producer_state& state, const protocol::batch_header& h,
                                                  std::span<const uint8_t> batch) {
  state.set_end_offset(std::max(state.end_offset(), offset(h.last_offset() + 1)));
  if (h.producer_id < 0) return std::nullopt;
  auto m = parse_end_txn_marker(batch);
  if (!m) return std::nullopt;
  return state.record_marker(producer_id(h.producer_id), producer_epoch(h.producer_epoch), *m,
                             offset(h.base_offset), h.max_timestamp);
}

}  // namespace gregor::txn
