#pragma once
// producer_id_allocator: hands out producer ids from a block this broker owns. When the block is
// used up it asks its block source (the controller's metadata store, which persists the new high
// mark before answering) for the next one, so an id is never handed out twice, even across
// restarts; the unused rest of a block is lost at restart, as in Kafka. Designed so that the
// controller can later give blocks to many brokers.
// Threading: called from the broker's request thread only.
#include <cstdint>
#include <functional>
#include <string>

#include "gregor/base/result.h"
#include "gregor/base/types.h"

namespace gregor::txn {

// Kafka's block size (ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE).
inline constexpr int32_t producer_id_block_size = 1000;

struct id_block {
  int64_t first = 0;
  int32_t size = 0;
};

class producer_id_allocator {
 public:
  // Returns a fresh block of ids or why none could be had (an I/O error persisting it).
  using block_source = std::function<result<id_block, std::string>()>;

  explicit producer_id_allocator(block_source source) : _source(std::move(source)) {}

  result<producer_id, std::string> next();
  // Ids below this mark may have been handed out (the end of the current block).
  int64_t block_end() const { return _next + _left; }

 private:
  block_source _source;
  int64_t _next = 0;
  int64_t _left = 0;
};

}  // namespace gregor::txn
