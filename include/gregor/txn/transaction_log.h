#pragma once
// txn::transaction_log: Kafka's record layouts of the `__transaction_state` topic, one record per
// transactional id (compacted): key TransactionLogKey v0 (int16 version, string TransactionalId),
// value TransactionLogValue v0 (classic) or v1 (flexible, with the tagged fields PreviousProducerId
// (0), NextProducerId (1), ClientTransactionVersion (2), NextProducerEpoch (3)); a null value is a
// tombstone (the transactional id expired). Kafka writes v1 for clients on transaction version 2
// and v0 otherwise; so do we. Pure functions, no I/O.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gregor::txn {

// Kafka's TransactionState ids, as stored in TransactionStatus.
enum class txn_state : int8_t {
  empty = 0,
  ongoing = 1,
  prepare_commit = 2,
  prepare_abort = 3,
  complete_commit = 4,
  complete_abort = 5,
  dead = 6,
  prepare_epoch_fence = 7,
};

// Kafka's names ("Empty", "Ongoing", "PrepareCommit", ...), as DescribeTransactions and
// ListTransactions report them.
std::string_view state_name(txn_state s);
std::optional<txn_state> state_from_name(std::string_view name);

using txn_partitions = std::map<std::string, std::set<int32_t>>;

struct txn_value {
  int64_t producer_id = -1;
  int64_t previous_producer_id = -1;
  int64_t next_producer_id = -1;
  int16_t producer_epoch = -1;
  int16_t next_producer_epoch = -1;
  int32_t timeout_ms = 0;
  txn_state state = txn_state::empty;
  txn_partitions partitions;
  int64_t last_update_ms = -1;
  int64_t start_ms = -1;
  int16_t client_transaction_version = 0;

  bool operator==(const txn_value&) const = default;
};

std::vector<uint8_t> encode_txn_key(std::string_view transactional_id);
// nullopt for another key version or a malformed key.
std::optional<std::string> decode_txn_key(std::span<const uint8_t> key);

// v1 when client_transaction_version >= 2, else v0.
std::vector<uint8_t> encode_txn_value(const txn_value& v);
// nullopt for an unknown version or malformed bytes.
std::optional<txn_value> decode_txn_value(std::span<const uint8_t> value);

}  // namespace gregor::txn
