#pragma once
// producer_id_allocator: hands out producer ids from a block this broker owns. When the block is
// used up the caller fetches the next one from the controller (AllocateProducerIds: the controller
// commits the new high mark before answering) and refills, so an id is never handed out twice,
// even across restarts; the unused rest of a block is lost at restart, as in Kafka. Pure: the
// asynchronous fetch of a block is the caller's (server::idempotence).
// Threading: called from the broker's request thread only.
#include <cstdint>
#include <optional>
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
  // The next id of the current block, or nullopt when it is used up (refill first).
  std::optional<producer_id> next();
  // Installs a fresh block (the rest of the current one is dropped). Returns why a malformed
  // block (negative first id, empty) is refused, "" when installed.
  std::string refill(id_block b);
  bool used_up() const { return _left == 0; }
  // Ids below this mark may have been handed out (the end of the current block).
  int64_t block_end() const { return _next + _left; }

 private:
  int64_t _next = 0;
  int64_t _left = 0;
};

}  // namespace gregor::txn
