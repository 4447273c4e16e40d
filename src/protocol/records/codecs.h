#pragma once
// Internal to the records module: decompression into a caller-owned, reusable buffer (the produce
// path validates every compressed batch; reusing one buffer per thread avoids an allocation, a
// zero-fill and page faults per batch). The public decompress() in record_batch.h wraps it.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "gregor/protocol/record_batch.h"

namespace gregor::protocol::records_detail {

// Decompresses `in` into buf[0, n) and returns n. buf is grown as needed (never past
// output_bytes_max + 1 bytes by this call) and never shrunk: bytes past n are stale. Same checks,
// caps and error codes as decompress(); codec none copies. When a streamed codec (gzip, lz4, zstd)
// fails for inflating past the cap, *prefix_bytes (if given) is set to how many bytes of buf hold
// the start of the decompressed section (more than output_bytes_max); otherwise it is left alone.
result<size_t, batch_error> decompress_into(compression codec, std::span<const uint8_t> in,
                                            size_t output_bytes_max, std::vector<uint8_t>& buf,
                                            size_t* prefix_bytes = nullptr);

}  // namespace gregor::protocol::records_detail
