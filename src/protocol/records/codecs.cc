// Compression codecs for the records section of a v2 batch: gzip, snappy (raw and xerial framing),
// lz4 (frame format) and zstd. Every decoder streams into an output that never grows beyond
// output_bytes_max + 1 bytes, so a decompression bomb costs at most the cap in memory.
#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "byte_io.h"
#include "gregor/protocol/record_batch.h"

namespace gregor::protocol {
namespace {

using records_detail::load_be32;
using records_detail::store_be32;

constexpr size_t chunk_bytes = 64 * 1024;
// xerial snappy-java stream header: magic, then version and compatible-version int32s.
constexpr uint8_t xerial_magic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t xerial_header_bytes = 16;
constexpr size_t xerial_block_bytes = 32 * 1024;  // snappy-java's default block size

failure<batch_error> corrupt(std::string message) {
  return failure{batch_error{error_code::corrupt_message, std::move(message)}};
}
failure<batch_error> over_cap(std::string_view codec, size_t cap) {
  return corrupt(fmt::format("{} records section decompresses to more than the {}-byte limit", codec, cap));
}

// A growable output bounded at cap + 1 bytes: reaching cap + 1 means the input exceeds the cap.
class capped_output {
 public:
  capped_output(size_t cap, size_t size_hint) : _cap(cap) {
    _buf.resize(std::min(cap + 1, std::max(size_hint, chunk_bytes)));
  }
  // Free space to write into; grows (doubling) as long as the cap allows.
  std::span<uint8_t> space() {
    if (_used == _buf.size() && _buf.size() < _cap + 1)
      _buf.resize(std::min(_cap + 1, std::max(_buf.size() * 2, chunk_bytes)));
    return {_buf.data() + _used, _buf.size() - _used};
  }
  void commit(size_t n) { _used += n; }
  bool exceeded() const { return _used > _cap; }
  std::vector<uint8_t> take() {
    _buf.resize(_used);
    return std::move(_buf);
  }

 private:
  size_t _cap;
  std::vector<uint8_t> _buf;
  size_t _used = 0;
};

// ---- gzip ----
result<std::vector<uint8_t>, batch_error> gzip_compress(std::span<const uint8_t> in) {
  z_stream zs{};
  // windowBits 15 + 16: gzip wrapper, as java.util.zip.GZIPOutputStream writes.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return corrupt("gzip: deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&zs, uLong(in.size())));
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = uInt(in.size());
  zs.next_out = out.data();
  zs.avail_out = uInt(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t written = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return corrupt("gzip: deflate failed");
  out.resize(written);
  return out;
}

result<std::vector<uint8_t>, batch_error> gzip_decompress(std::span<const uint8_t> in, size_t cap) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return corrupt("gzip: inflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  capped_output out(cap, in.size() * 4);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = uInt(in.size());
  bool ended = false;
  while (!out.exceeded()) {
    auto space = out.space();
    const size_t avail = std::min<size_t>(space.size(), 1u << 30);
    zs.next_out = space.data();
    zs.avail_out = uInt(avail);
    int rc = inflate(&zs, Z_NO_FLUSH);
    out.commit(avail - zs.avail_out);
    if (rc == Z_STREAM_END) {
      // GZIPInputStream reads concatenated members; so do we.
      if (zs.avail_in == 0) {
        ended = true;
        break;
      }
      if (inflateReset(&zs) != Z_OK) return corrupt("gzip: inflateReset failed");
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) return corrupt("gzip: truncated stream");
    if (rc != Z_OK && rc != Z_BUF_ERROR) return corrupt(fmt::format("gzip: corrupt stream ({})", zs.msg ? zs.msg : "?"));
  }
  if (out.exceeded()) return over_cap("gzip", cap);
  if (!ended) return corrupt("gzip: truncated stream");
  return out.take();
}

// ---- snappy ----
result<void, batch_error> snappy_raw_into(std::span<const uint8_t> block, size_t cap, std::vector<uint8_t>& out) {
  size_t length = 0;
  const char* src = reinterpret_cast<const char*>(block.data());
  if (!snappy::GetUncompressedLength(src, block.size(), &length)) return corrupt("snappy: bad block header");
  if (length > cap - out.size()) return over_cap("snappy", cap);
  size_t at = out.size();
  out.resize(at + length);
  if (!snappy::RawUncompress(src, block.size(), reinterpret_cast<char*>(out.data() + at)))
    return corrupt("snappy: corrupt block");
  return ok;
}

bool is_xerial(std::span<const uint8_t> in) {
  return in.size() >= sizeof(xerial_magic) && std::memcmp(in.data(), xerial_magic, sizeof(xerial_magic)) == 0;
}

result<std::vector<uint8_t>, batch_error> snappy_decompress(std::span<const uint8_t> in, size_t cap) {
  std::vector<uint8_t> out;
  if (!is_xerial(in)) {
    auto r = snappy_raw_into(in, cap, out);
    if (!r) return failure{r.error()};
    return out;
  }
  if (in.size() < xerial_header_bytes) return corrupt("snappy: truncated xerial header");
  size_t pos = xerial_header_bytes;
  while (pos < in.size()) {
    if (in.size() - pos < 4) return corrupt("snappy: truncated xerial block length");
    uint32_t block_bytes = load_be32(in.data() + pos);
    pos += 4;
    if (block_bytes > in.size() - pos) return corrupt("snappy: xerial block past the end of the input");
    auto r = snappy_raw_into(in.subspan(pos, block_bytes), cap, out);
    if (!r) return failure{r.error()};
    pos += block_bytes;
  }
  return out;
}

// Xerial framing (as the Java client writes): decodable by every client and by the Java broker.
result<std::vector<uint8_t>, batch_error> snappy_compress(std::span<const uint8_t> in) {
  std::vector<uint8_t> out(xerial_magic, xerial_magic + sizeof(xerial_magic));
  out.resize(xerial_header_bytes);
  store_be32(out.data() + 8, 1);   // version
  store_be32(out.data() + 12, 1);  // compatible version
  for (size_t pos = 0; pos < in.size(); pos += xerial_block_bytes) {
    size_t n = std::min(xerial_block_bytes, in.size() - pos);
    size_t at = out.size();
    out.resize(at + 4 + snappy::MaxCompressedLength(n));
    size_t written = 0;
    snappy::RawCompress(reinterpret_cast<const char*>(in.data() + pos), n,
                        reinterpret_cast<char*>(out.data() + at + 4), &written);
    store_be32(out.data() + at, uint32_t(written));
    out.resize(at + 4 + written);
  }
  return out;
}

// ---- lz4 (frame format) ----
result<std::vector<uint8_t>, batch_error> lz4_compress(std::span<const uint8_t> in) {
  // 64 KiB independent blocks, no content checksum: what Kafka's KafkaLZ4BlockOutputStream writes.
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  std::vector<uint8_t> out(LZ4F_compressFrameBound(in.size(), &prefs));
  size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
  if (LZ4F_isError(n)) return corrupt(fmt::format("lz4: {}", LZ4F_getErrorName(n)));
  out.resize(n);
  return out;
}

result<std::vector<uint8_t>, batch_error> lz4_decompress(std::span<const uint8_t> in, size_t cap) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) return corrupt("lz4: no context");
  std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)> ctx(raw, LZ4F_freeDecompressionContext);
  capped_output out(cap, in.size() * 4);
  size_t pos = 0;
  size_t hint = 1;  // 0 once a frame is complete
  while (!out.exceeded()) {
    auto space = out.space();
    size_t dst_bytes = space.size();
    size_t src_bytes = in.size() - pos;
    hint = LZ4F_decompress(ctx.get(), space.data(), &dst_bytes, in.data() + pos, &src_bytes, nullptr);
    if (LZ4F_isError(hint)) return corrupt(fmt::format("lz4: {}", LZ4F_getErrorName(hint)));
    pos += src_bytes;
    out.commit(dst_bytes);
    if (hint == 0 && pos == in.size()) break;                // all frames complete
    if (pos == in.size() && dst_bytes == 0) break;           // input exhausted mid-frame
  }
  if (out.exceeded()) return over_cap("lz4", cap);
  if (hint != 0) return corrupt("lz4: truncated frame");
  return out.take();
}

// ---- zstd ----
result<std::vector<uint8_t>, batch_error> zstd_compress(std::span<const uint8_t> in) {
  std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  if (ZSTD_isError(n)) return corrupt(fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  out.resize(n);
  return out;
}

result<std::vector<uint8_t>, batch_error> zstd_decompress(std::span<const uint8_t> in, size_t cap) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (!ctx) return corrupt("zstd: no context");
  // The window is allocated up front from the frame header; never allow one far beyond the cap.
  // A window beyond the cap is only useful to output beyond the cap; 8 MiB floor, 128 MiB ceiling.
  int window_log_max = std::clamp(int(std::bit_width(cap)), 23, 27);
  ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, window_log_max);
  // Ignore the frame's declared content size: the output buffer grows only as data arrives.
  capped_output out(cap, in.size() * 4);
  ZSTD_inBuffer src{in.data(), in.size(), 0};
  size_t hint = 1;
  while (!out.exceeded()) {
    auto space = out.space();
    ZSTD_outBuffer dst{space.data(), space.size(), 0};
    hint = ZSTD_decompressStream(ctx.get(), &dst, &src);
    if (ZSTD_isError(hint)) {
      if (ZSTD_getErrorCode(hint) == ZSTD_error_frameParameter_windowTooLarge) return over_cap("zstd", cap);
      return corrupt(fmt::format("zstd: {}", ZSTD_getErrorName(hint)));
    }
    out.commit(dst.pos);
    if (hint == 0 && src.pos == src.size) break;
    if (src.pos == src.size && dst.pos < dst.size) break;  // no more input, decoder starved
  }
  if (out.exceeded()) return over_cap("zstd", cap);
  if (hint != 0) return corrupt("zstd: truncated frame");
  return out.take();
}

}  // namespace

result<std::vector<uint8_t>, batch_error> compress(compression codec, std::span<const uint8_t> in) {
  switch (codec) {
    case compression::none: return std::vector<uint8_t>(in.begin(), in.end());
    case compression::gzip: return gzip_compress(in);
    case compression::snappy: return snappy_compress(in);
    case compression::lz4: return lz4_compress(in);
    case compression::zstd: return zstd_compress(in);
  }
  return failure{batch_error{error_code::unsupported_compression_type,
                             fmt::format("unknown compression codec {}", int(codec))}};
}

result<std::vector<uint8_t>, batch_error> decompress(compression codec, std::span<const uint8_t> in,
                                                     size_t output_bytes_max) {
  switch (codec) {
    case compression::none:
      if (in.size() > output_bytes_max) return over_cap("uncompressed", output_bytes_max);
      return std::vector<uint8_t>(in.begin(), in.end());
    case compression::gzip: return gzip_decompress(in, output_bytes_max);
    case compression::snappy: return snappy_decompress(in, output_bytes_max);
    case compression::lz4: return lz4_decompress(in, output_bytes_max);
    case compression::zstd: return zstd_decompress(in, output_bytes_max);
  }
  return failure{batch_error{error_code::unsupported_compression_type,
                             fmt::format("unknown compression codec {}", int(codec))}};
}

}  // namespace gregor::protocol
