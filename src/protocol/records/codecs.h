#pragma once
// Internal to the records module: decompression into a caller-owned, reusable buffer (the produce
// path validates every compressed batch; reusing one buffer per thread avoids an allocation, a
// zero-fill and page faults per batch). The public decompress() in record_batch.h wraps it.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <span>
#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include <memory>
#include <vector>

#include "gregor/protocol/record_batch.h"

namespace gregor::protocol::records_detail {

// Decompresses `in` into buf[0, n) and returns n. buf is grown as needed (never past
// output_bytes_max + 1 bytes by this call) and never shrunk: bytes past n are stale. Same checks,
// caps and error codes as decompress(); codec none copies.
result<size_t, batch_error> decompress_into(compression codec, std::span<const uint8_t> in,
                                            size_t output_bytes_max, std::vector<uint8_t>& buf);

// A records section decompressed as a stream: read() hands out the inflated bytes in order, a
// window at a time, so validation walks a section of any inflated size in bounded memory (Kafka's
// LogValidator iterates a compressed batch through a decompression stream the same way). Memory:
// the codec's own state (zlib 32 KiB window; lz4 64 KiB-4 MiB blocks; zstd the frame's window, at
// most 2^27 bytes, as zstd's and zstd-jni's default limit; snappy one block, which the codec caps at
// 22 times its compressed size, so a raw (unframed) snappy section at 22 times the batch).
// Errors are reported lazily, as a stream reader meets them: bytes before a corrupt point are
// handed out first, then read() returns fewer bytes than asked and error() is set.
class section_decoder {
 public:
  // `in` must outlive the decoder. `block_buf` holds snappy blocks (may be a reused scratch
  // buffer; grown as needed, never shrunk here).
  section_decoder(compression codec, std::span<const uint8_t> in, std::vector<uint8_t>& block_buf);
  ~section_decoder();
  section_decoder(const section_decoder&) = delete;
  section_decoder& operator=(const section_decoder&) = delete;

  // Writes up to out.size() bytes and returns how many. Fewer than asked only at the end of the
  // stream (ended()) or on a failure (error() non-null); after either, read() returns 0.
  size_t read(std::span<uint8_t> out);
  bool ended() const { return _ended; }
  const batch_error* error() const { return _error ? &*_error : nullptr; }
  uint64_t produced() const { return _produced; }

 private:
  // Per-codec state, held inline (no allocation per batch).
  struct state {
    z_stream zs{};  // gzip
    bool zs_open = false;
    std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)> lz4{nullptr, LZ4F_freeDecompressionContext};
    size_t lz4_hint = 1;
    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> zstd{nullptr, ZSTD_freeDCtx};
    ZSTD_inBuffer zin{nullptr, 0, 0};
    size_t zstd_hint = 1;
    size_t pos = 0;  // input position (none, lz4, snappy)
    size_t block_at = 0, block_end = 0;  // snappy: the decoded block in block_buf[block_at, block_end)
    bool xerial = false;
  };

  size_t read_some(std::span<uint8_t> out);
  void fail(std::string message);

  compression _codec;
  std::span<const uint8_t> _in;
  std::vector<uint8_t>& _block_buf;
  state _state;
  bool _ended = false;
  std::optional<batch_error> _error;
  uint64_t _produced = 0;
};

}  // namespace gregor::protocol::records_detail
