#pragma once
// The memory of direct-I/O readahead (src/storage/readahead.h): one pool of read buffers for the
// whole process, in use or kept for reuse, bounded by log.readahead.max.bytes. Reads that find the
// pool full are not read ahead.
#include <cstddef>
#include <cstdint>

namespace gregor::storage {

inline constexpr size_t readahead_default_max_bytes = size_t(48) << 20;

// Sets the bound; a lower one frees pooled buffers at once (buffers held by reads are freed as
// they come back). 0 turns readahead off.
void set_readahead_max_bytes(size_t bytes);
size_t readahead_max_bytes();
// Bytes the pool holds from the allocator now (in use or kept for reuse).
size_t readahead_allocated_bytes();
// Reads refused for want of room since the process started (a consumer Fetch may leave that
// partition for the client's next fetch; otherwise it reads that part from the device itself).
uint64_t readahead_refused_reads();

}  // namespace gregor::storage
