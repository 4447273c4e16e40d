#pragma once
// transaction_index: a segment's aborted-transaction index, Kafka's `.txnindex` format
// (TransactionIndex.java). Each 34-byte entry, big-endian, is
//   version i16 (= 0) | producer id i64 | first offset i64 | last offset i64 | last stable offset i64
// and records one aborted transaction whose ABORT marker (at `last offset`) lies in the segment:
// its first data offset and the partition's last stable offset once it was complete. Entries are
// appended in marker order, so last offsets strictly grow.
// Owned by a segment; single-threaded like its owner. The file is created only when the first
// entry is appended (most segments never hold an aborted transaction); entries are kept in memory.
// Who appends: the owner of the producer state (server::idempotence, txn::rebuild) through
// partition_log::add_aborted_txn; storage itself only truncates and deletes.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "gregor/storage/file.h"

namespace gregor::storage {

struct aborted_txn {
  int64_t producer_id = -1;
  int64_t first_offset = 0;
  int64_t last_offset = 0;         // the ABORT marker's offset
  int64_t last_stable_offset = 0;  // the partition's LSO right after the marker

  bool operator==(const aborted_txn&) const = default;
};

class transaction_index {
 public:
  static constexpr size_t entry_bytes = 34;
  static constexpr int16_t entry_version = 0;

  // Loads `path` if it exists. Entries past `next_offset` (the segment's end: a torn log tail cut
  // by recovery), a partial trailing entry, an unknown version or last offsets that do not grow
  // end the index there (the file is cut, logged).
  static result<transaction_index, storage_error> open(const std::filesystem::path& path,
                                                       int64_t next_offset);

  // Appends an entry; its last offset must be above the last entry's (invalid_argument otherwise).
  result<void, storage_error> append(const aborted_txn& e);
  // Drops the entries of these markers (compaction removed them) and rewrites the file.
  result<void, storage_error> remove_markers(const std::vector<int64_t>& last_offsets);
  // Drops every entry whose last offset is >= `from` (log truncation, producer state rebuild).
  result<void, storage_error> truncate_from(int64_t from);
  // Kafka's collectAbortedTxns: appends to `out` the entries with last offset >= fetch_offset and
  // first offset < upper_bound; returns true when the search is complete (an entry's last stable
  // offset reached upper_bound, so later segments cannot hold more that matter).
  bool collect(int64_t fetch_offset, int64_t upper_bound, std::vector<aborted_txn>& out) const;

  const std::vector<aborted_txn>& entries() const { return _entries; }
  const std::filesystem::path& path() const { return _path; }
  result<void, storage_error> sync();
  // A duplicate of the file's descriptor for a sync on another thread (-1 when there is no file).
  int dup_for_sync() const { return _file.dup_for_sync(); }
  void close() { _file.close(); }

 private:
  result<void, storage_error> ensure_open();

  std::filesystem::path _path;
  file _file;  // open once it exists
  std::vector<aborted_txn> _entries;
};

}  // namespace gregor::storage
