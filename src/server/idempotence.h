#pragma once
// server::idempotence: wires the txn module into the broker. Owns the producer id allocator (its
// blocks come from the controller, AllocateProducerIds) and the producer state of every partition it has seen,
// loaded lazily on first use (newest snapshot plus the log after it) and snapshotted at every
// segment roll (storage's roll listener) and at close.
//
// Callers: the Produce handler (check() before append, record() after), InitProducerId and
// DescribeProducers, and core::close(). Threading: the broker's single io thread.
// Invariant: a loaded state's end offset equals its log's end offset between requests; when it
// does not (someone appended elsewhere, or the log was replaced) the state is rebuilt.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "gregor/base/clock.h"
#include "gregor/config/broker_config.h"
#include <boost/asio/awaitable.hpp>

#include "gregor/controller/metadata_image.h"
#include "gregor/protocol/error_code.h"
#include "gregor/protocol/record_batch.h"
#include "gregor/replication/partition.h"
#include "gregor/txn/producer_id_allocator.h"
#include "gregor/txn/producer_state.h"
#include "controller_client.h"

namespace gregor::server {

// What the Produce handler does with a partition's batches.
struct idempotence_verdict {
  protocol::error_code error = protocol::error_code::none;  // refuse with this when not none
  std::string message;
  // A retry of batches already in the log: answer with these offsets, append nothing.
  std::optional<txn::batch_metadata> duplicate_of;
};

struct new_producer {
  protocol::error_code error = protocol::error_code::none;
  producer_id pid = no_producer_id;
  producer_epoch epoch = no_producer_epoch;
};

class idempotence {
 public:
  // `image` is the broker's metadata image (the cluster's producer id high mark); blocks of ids
  // come from `controller`.
  idempotence(const config::broker_config& cfg, clock& clk, const controller::metadata_image& image,
              controller_client& controller);

  // InitProducerId without a transactional id: a new producer id with epoch 0, or, when the client
  // names a producer id this cluster handed out and its epoch (v3+, KIP-360), the same id with the
  // epoch bumped (a new id once the epoch is exhausted).
  boost::asio::awaitable<new_producer> init_producer_id(producer_id pid, producer_epoch epoch);

  // Kafka's idempotence rules for the validated batches of one partition's produce.
  idempotence_verdict check(replication::partition& p,
                            std::span<const protocol::validated_batch> batches);
  // After a successful append of those batches starting at `base`.
  void record(replication::partition& p, std::span<const protocol::validated_batch> batches,
              offset base);

  // The partition's producer state, loaded if needed (nullptr if it cannot be rebuilt).
  const txn::producer_state* state(replication::partition& p);

  // The partition's log start may have moved (retention, DeleteRecords): when it did, drops the
  // loaded state's producers wholly below it and deletes the snapshots below it
  // (txn::on_log_start_moved). Cheap when nothing moved; log_maintenance calls it every tick.
  void log_start_moved(replication::partition& p);

  // Writes a snapshot at the log end of every loaded partition whose log is still open. Called by
  // core::close() before the logs close.
  void snapshot_all(const std::function<replication::partition*(const topic_partition&)>& live);

 private:
  struct loaded {
    storage::partition_log* log = nullptr;
    uuid topic_id;
    std::unique_ptr<txn::producer_state> state;
    int64_t last_expiry_ms = 0;
    int64_t log_start = -1;  // the log start last trimmed to (log_start_moved)
  };
  txn::producer_state* load(replication::partition& p);

  const config::broker_config& _cfg;
  clock& _clock;
  const controller::metadata_image& _image;
  controller_client& _controller;
  txn::producer_id_allocator _ids;
  std::map<topic_partition, loaded> _partitions;
};

// The one place producer-state refusals become Kafka error codes.
protocol::error_code to_error_code(txn::producer_errc e);

}  // namespace gregor::server
