#pragma once
// replay_log: the coordinators' load of a partition they start leading (group_service replays
// __consumer_offsets, txn_service __transaction_state): every batch from the log start to the log
// end, in order, read `read_bytes` at a time, handed to `fn` with its parsed header. A read error
// stops the replay and is logged with the partition and offset; a torn tail stops it quietly.
#include <algorithm>
#include <functional>
#include <span>

#include "gregor/base/log.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/replication/partition.h"

namespace gregor::server {

inline void replay_log(const replication::partition& p, size_t read_bytes, spdlog::logger& lg,
                       const std::function<void(const protocol::batch_header&, std::span<const uint8_t>)>& fn) {
  const auto& log = p.log();
  offset pos = log.log_start_offset();
  const offset end = log.log_end_offset();
  while (pos < end) {
    auto r = log.read(pos, std::max<size_t>(read_bytes, 1 << 16), end, true);
    if (!r) {
      lg.error("loading {} at {}: {}", p.tp(), pos.value(), r.error().message);
      return;
    }
    std::span<const uint8_t> data(r->data);
    if (data.empty()) return;
    offset next = pos;
    while (data.size() >= protocol::batch_header_size) {
      auto h = protocol::parse_batch_header(data);
      if (!h || h->total_size() > data.size()) break;
      auto batch = data.first(h->total_size());
      data = data.subspan(h->total_size());
      next = offset{h->last_offset() + 1};
      fn(*h, batch);
    }
    if (next <= pos) return;  // no progress (should not happen)
    pos = next;
  }
}

}  // namespace gregor::server
