// Compression codecs for the records section of a v2 batch: gzip, snappy (raw and xerial framing),
// lz4 (frame format) and zstd. Every decoder streams into an output that never grows beyond
// output_bytes_max + 1 bytes, so a decompression bomb costs at most the cap in memory. Decoders
// write into a caller-owned buffer that may be reused across calls (decompress_into), and the zstd
// and lz4 contexts are kept per thread and reset before each use: creating a zstd context costs
// more than decompressing a 16 KiB batch (bench/bench_records).
#include "codecs.h"

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

// A growable output in a caller-owned buffer, bounded at cap + 1 bytes: reaching cap + 1 means
// the input exceeds the cap. The buffer is only grown (doubling), never shrunk, so a reused buffer
// is neither reallocated nor zero-filled again; bytes past used() are stale.
class capped_output {
 public:
  capped_output(std::vector<uint8_t>& buf, size_t cap, size_t size_hint) : _buf(buf), _cap(cap) {
    const size_t want = std::min(cap + 1, std::max(size_hint, chunk_bytes));
    if (_buf.size() < want) _buf.resize(want);
  }
  // Free space to write into (never past cap + 1); grows (doubling) as long as the cap allows.
  std::span<uint8_t> space() {
    if (_used == _buf.size() && _buf.size() < _cap + 1)
      _buf.resize(std::min(_cap + 1, std::max(_buf.size() * 2, chunk_bytes)));
    const size_t limit = std::min(_buf.size(), _cap + 1);
    return {_buf.data() + _used, limit - _used};
  }
  void commit(size_t n) { _used += n; }
  bool exceeded() const { return _used > _cap; }
  size_t used() const { return _used; }

 private:
  std::vector<uint8_t>& _buf;
  size_t _cap;
  size_t _used = 0;
};

using zstd_ptr = std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)>;
using lz4_ptr = std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)>;

// Per-thread cached contexts, borrowed for the lifetime of one decoder (a nested decoder on the
// same thread creates its own) and given back afterwards.
zstd_ptr& cached_zstd() {
  thread_local zstd_ptr cached(nullptr, ZSTD_freeDCtx);
  return cached;
}
lz4_ptr& cached_lz4() {
  thread_local lz4_ptr cached(nullptr, LZ4F_freeDecompressionContext);
  return cached;
}
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

result<size_t, batch_error> gzip_decompress(std::span<const uint8_t> in, size_t cap,
                                            std::vector<uint8_t>& buf) {
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return corrupt("gzip: inflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  capped_output out(buf, cap, in.size() * 4);
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
  if (out.exceeded()) {
    return over_cap("gzip", cap);
  }
  if (!ended) return corrupt("gzip: truncated stream");
  return out.used();
}

// ---- snappy ----
// The uncompressed length a raw snappy block declares in its header.
result<size_t, batch_error> snappy_block_length(std::span<const uint8_t> block) {
  size_t length = 0;
  if (!snappy::GetUncompressedLength(reinterpret_cast<const char*>(block.data()), block.size(), &length))
    return corrupt("snappy: bad block header");
  return length;
}

result<void, batch_error> snappy_block_into(std::span<const uint8_t> block, uint8_t* out) {
  if (!snappy::RawUncompress(reinterpret_cast<const char*>(block.data()), block.size(), reinterpret_cast<char*>(out)))
    return corrupt("snappy: corrupt block");
  return ok;
}

bool is_xerial(std::span<const uint8_t> in) {
  return in.size() >= sizeof(xerial_magic) && std::memcmp(in.data(), xerial_magic, sizeof(xerial_magic)) == 0;
}

// Raw or xerial-framed. Every block's declared length is read and the total checked against the
// cap before anything is decoded; the output is then sized once and each block decoded in place.
result<size_t, batch_error> snappy_decompress(std::span<const uint8_t> in, size_t cap,
                                              std::vector<uint8_t>& buf) {
  if (!is_xerial(in)) {
    auto length = snappy_block_length(in);
    if (!length) return failure{length.error()};
    if (*length > cap) return over_cap("snappy", cap);
    if (buf.size() < *length) buf.resize(*length);
    if (auto r = snappy_block_into(in, buf.data()); !r) return failure{r.error()};
    return *length;
  }
  if (in.size() < xerial_header_bytes) return corrupt("snappy: truncated xerial header");
  // Pass 1: framing and declared lengths.
  size_t total = 0;
  for (size_t pos = xerial_header_bytes; pos < in.size();) {
    if (in.size() - pos < 4) return corrupt("snappy: truncated xerial block length");
    uint32_t block_bytes = load_be32(in.data() + pos);
    pos += 4;
    if (block_bytes > in.size() - pos) return corrupt("snappy: xerial block past the end of the input");
    auto length = snappy_block_length(in.subspan(pos, block_bytes));
    if (!length) return failure{length.error()};
    if (*length > cap - total) return over_cap("snappy", cap);
    total += *length;
    pos += block_bytes;
  }
  // Pass 2: decode each block at its place in the output.
  if (buf.size() < total) buf.resize(total);
  size_t at = 0;
  for (size_t pos = xerial_header_bytes; pos < in.size();) {
    uint32_t block_bytes = load_be32(in.data() + pos);
    pos += 4;
    auto block = in.subspan(pos, block_bytes);
    if (auto r = snappy_block_into(block, buf.data() + at); !r) return failure{r.error()};
    at += *snappy_block_length(block);
    pos += block_bytes;
  }
  return total;
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

// This thread's decompression context, reset to a clean state (nullptr if none can be created).
LZ4F_dctx* lz4_context() {
  lz4_ptr& ctx = cached_lz4();
  if (!ctx) {
    LZ4F_dctx* raw = nullptr;
    if (!LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) ctx.reset(raw);
  }
  if (ctx) LZ4F_resetDecompressionContext(ctx.get());
  return ctx.get();
}

result<size_t, batch_error> lz4_decompress(std::span<const uint8_t> in, size_t cap,
                                            std::vector<uint8_t>& buf) {
  LZ4F_dctx* ctx = lz4_context();
  if (!ctx) return corrupt("lz4: no context");
  capped_output out(buf, cap, in.size() * 4);
  size_t pos = 0;
  size_t hint = 1;  // 0 once a frame is complete
  while (!out.exceeded()) {
    auto space = out.space();
    size_t dst_bytes = space.size();
    size_t src_bytes = in.size() - pos;
    hint = LZ4F_decompress(ctx, space.data(), &dst_bytes, in.data() + pos, &src_bytes, nullptr);
    if (LZ4F_isError(hint)) return corrupt(fmt::format("lz4: {}", LZ4F_getErrorName(hint)));
    pos += src_bytes;
    out.commit(dst_bytes);
    if (hint == 0 && pos == in.size()) break;                // all frames complete
    if (pos == in.size() && dst_bytes == 0) break;           // input exhausted mid-frame
  }
  if (out.exceeded()) {
    return over_cap("lz4", cap);
  }
  if (hint != 0) return corrupt("lz4: truncated frame");
  return out.used();
}

// ---- zstd ----
result<std::vector<uint8_t>, batch_error> zstd_compress(std::span<const uint8_t> in) {
  std::vector<uint8_t> out(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(), 3);
  if (ZSTD_isError(n)) return corrupt(fmt::format("zstd: {}", ZSTD_getErrorName(n)));
  out.resize(n);
  return out;
}

// A context keeps its window buffer between frames; one grown past this is dropped after use so a
// single frame with a huge window does not pin that memory for the thread's lifetime.
constexpr size_t zstd_context_bytes_max = 16u << 20;

result<size_t, batch_error> zstd_decompress(std::span<const uint8_t> in, size_t cap,
                                            std::vector<uint8_t>& buf) {
  zstd_ptr& cached = cached_zstd();
  if (!cached) cached.reset(ZSTD_createDCtx());
  if (!cached) return corrupt("zstd: no context");
  ZSTD_DCtx_reset(cached.get(), ZSTD_reset_session_and_parameters);
  // Borrow the context; give it back afterwards unless it grew too large.
  zstd_ptr ctx(cached.release(), ZSTD_freeDCtx);
  struct give_back {
    zstd_ptr& from;
    zstd_ptr& to;
    ~give_back() {
      if (from && ZSTD_sizeof_DCtx(from.get()) <= zstd_context_bytes_max) to = std::move(from);
    }
  } give_back_on_exit{ctx, cached};
  // The window is allocated up front from the frame header; never allow one far beyond the cap.
  // A window beyond the cap is only useful to output beyond the cap; 8 MiB floor, 128 MiB ceiling.
  int window_log_max = std::clamp(int(std::bit_width(cap)), 23, 27);
  ZSTD_DCtx_setParameter(ctx.get(), ZSTD_d_windowLogMax, window_log_max);
  // Ignore the frame's declared content size: the output buffer grows only as data arrives.
  capped_output out(buf, cap, in.size() * 4);
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
  if (out.exceeded()) {
    return over_cap("zstd", cap);
  }
  if (hint != 0) return corrupt("zstd: truncated frame");
  return out.used();
}


// ---- streaming ----
// A raw snappy block of n compressed bytes inflates to at most ~21.3 n (a 3-byte copy tag emits
// at most 64 bytes); a declared length beyond this bound is refused before anything is allocated.
constexpr uint64_t snappy_ratio_max = 22;
constexpr uint64_t snappy_slack_bytes = 64;

// zstd's default decompression window limit (ZSTD_WINDOWLOG_LIMIT_DEFAULT), as zstd-jni applies it.
constexpr int zstd_stream_window_log_max = 27;

}  // namespace

namespace records_detail {

section_decoder::section_decoder(compression codec, std::span<const uint8_t> in, std::vector<uint8_t>& block_buf)
    : _codec(codec), _in(in), _block_buf(block_buf) {
  state& st = _state;
  switch (codec) {
    case compression::none:
      break;
    case compression::gzip:
      if (inflateInit2(&st.zs, 15 + 32) != Z_OK) { fail("gzip: inflateInit2 failed"); return; }
      st.zs_open = true;
      st.zs.next_in = const_cast<Bytef*>(in.data());
      st.zs.avail_in = uInt(in.size());
      break;
    case compression::snappy:
      st.xerial = is_xerial(in);
      if (st.xerial) {
        if (in.size() < xerial_header_bytes) { fail("snappy: truncated xerial header"); return; }
        st.pos = xerial_header_bytes;
      }
      break;
    case compression::lz4: {
      st.lz4 = std::move(cached_lz4());
      if (!st.lz4) {
        LZ4F_dctx* raw = nullptr;
        if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) { fail("lz4: no context"); return; }
        st.lz4.reset(raw);
      }
      LZ4F_resetDecompressionContext(st.lz4.get());
      break;
    }
    case compression::zstd:
      st.zstd = std::move(cached_zstd());
      if (!st.zstd) st.zstd.reset(ZSTD_createDCtx());
      if (!st.zstd) { fail("zstd: no context"); return; }
      ZSTD_DCtx_reset(st.zstd.get(), ZSTD_reset_session_and_parameters);
      ZSTD_DCtx_setParameter(st.zstd.get(), ZSTD_d_windowLogMax, zstd_stream_window_log_max);
      st.zin = ZSTD_inBuffer{in.data(), in.size(), 0};
      break;
  }
}

section_decoder::~section_decoder() {
  state& st = _state;
  if (st.zs_open) inflateEnd(&st.zs);
  if (st.lz4 && !cached_lz4()) cached_lz4() = std::move(st.lz4);
  // A context grown past zstd_context_bytes_max (a frame with a large window) is dropped.
  if (st.zstd && !cached_zstd() && ZSTD_sizeof_DCtx(st.zstd.get()) <= zstd_context_bytes_max)
    cached_zstd() = std::move(st.zstd);
}

void section_decoder::fail(std::string message) {
  if (!_error) _error = batch_error{error_code::corrupt_message, std::move(message)};
}

size_t section_decoder::read(std::span<uint8_t> out) {
  if (_ended || _error || out.empty()) return 0;
  size_t n = read_some(out);
  _produced += n;
  return n;
}

size_t section_decoder::read_some(std::span<uint8_t> out) {
  state& st = _state;
  size_t written = 0;
  switch (_codec) {
    case compression::none: {
      written = std::min(out.size(), _in.size() - st.pos);
      if (written) std::memcpy(out.data(), _in.data() + st.pos, written);
      st.pos += written;
      if (st.pos == _in.size()) _ended = true;
      return written;
    }
    case compression::gzip: {
      while (written < out.size()) {
        const size_t avail = std::min<size_t>(out.size() - written, 1u << 30);
        st.zs.next_out = out.data() + written;
        st.zs.avail_out = uInt(avail);
        int rc = inflate(&st.zs, Z_NO_FLUSH);
        written += avail - st.zs.avail_out;
        if (rc == Z_STREAM_END) {
          // GZIPInputStream reads concatenated members; so do we.
          if (st.zs.avail_in == 0) {
            _ended = true;
            break;
          }
          if (inflateReset(&st.zs) != Z_OK) {
            fail("gzip: inflateReset failed");
            break;
          }
          continue;
        }
        if (rc == Z_BUF_ERROR && st.zs.avail_in == 0) {
          fail("gzip: truncated stream");
          break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
          fail(fmt::format("gzip: corrupt stream ({})", st.zs.msg ? st.zs.msg : "?"));
          break;
        }
      }
      return written;
    }
    case compression::lz4: {
      while (written < out.size()) {
        size_t dst_bytes = out.size() - written;
        size_t src_bytes = _in.size() - st.pos;
        st.lz4_hint = LZ4F_decompress(st.lz4.get(), out.data() + written, &dst_bytes, _in.data() + st.pos,
                                      &src_bytes, nullptr);
        if (LZ4F_isError(st.lz4_hint)) {
          fail(fmt::format("lz4: {}", LZ4F_getErrorName(st.lz4_hint)));
          break;
        }
        st.pos += src_bytes;
        written += dst_bytes;
        if (st.lz4_hint == 0 && st.pos == _in.size()) {  // all frames complete
          _ended = true;
          break;
        }
        if (dst_bytes == 0 && src_bytes == 0) {  // input exhausted mid-frame
          fail("lz4: truncated frame");
          break;
        }
      }
      return written;
    }
    case compression::zstd: {
      while (written < out.size()) {
        ZSTD_outBuffer dst{out.data() + written, out.size() - written, 0};
        st.zstd_hint = ZSTD_decompressStream(st.zstd.get(), &dst, &st.zin);
        if (ZSTD_isError(st.zstd_hint)) {
          if (ZSTD_getErrorCode(st.zstd_hint) == ZSTD_error_frameParameter_windowTooLarge)
            fail(fmt::format("zstd: the frame's window exceeds 2^{} bytes", zstd_stream_window_log_max));
          else
            fail(fmt::format("zstd: {}", ZSTD_getErrorName(st.zstd_hint)));
          break;
        }
        written += dst.pos;
        if (st.zstd_hint == 0 && st.zin.pos == st.zin.size) {
          _ended = true;
          break;
        }
        if (st.zin.pos == st.zin.size && dst.pos < dst.size) {  // no more input, decoder starved
          fail("zstd: truncated frame");
          break;
        }
      }
      return written;
    }
    case compression::snappy: {
      while (written < out.size()) {
        if (st.block_at == st.block_end) {
          // Next block: the whole input when raw, else the next xerial chunk.
          if (st.pos == _in.size() && (st.xerial || st.pos > 0)) {
            _ended = true;
            break;
          }
          std::span<const uint8_t> block;
          if (!st.xerial) {
            block = _in;
            st.pos = _in.size();
          } else {
            if (_in.size() - st.pos < 4) {
              fail("snappy: truncated xerial block length");
              break;
            }
            uint32_t block_bytes = load_be32(_in.data() + st.pos);
            st.pos += 4;
            if (block_bytes > _in.size() - st.pos) {
              fail("snappy: xerial block past the end of the input");
              break;
            }
            block = _in.subspan(st.pos, block_bytes);
            st.pos += block_bytes;
          }
          auto length = snappy_block_length(block);
          if (!length) {
            fail(length.error().message);
            break;
          }
          if (*length > block.size() * snappy_ratio_max + snappy_slack_bytes) {
            fail(fmt::format("snappy: a block of {} bytes declares {} decompressed bytes, more than snappy can encode",
                             block.size(), *length));
            break;
          }
          if (*length <= out.size() - written) {  // fits: decode in place, no copy
            if (auto r = snappy_block_into(block, out.data() + written); !r) {
              fail(r.error().message);
              break;
            }
            written += *length;
            continue;
          }
          if (_block_buf.size() < *length) _block_buf.resize(*length);
          if (auto r = snappy_block_into(block, _block_buf.data()); !r) {
            fail(r.error().message);
            break;
          }
          st.block_at = 0;
          st.block_end = *length;
          continue;
        }
        const size_t n = std::min(out.size() - written, st.block_end - st.block_at);
        std::memcpy(out.data() + written, _block_buf.data() + st.block_at, n);
        st.block_at += n;
        written += n;
      }
      return written;
    }
  }
  fail(fmt::format("unknown compression codec {}", int(_codec)));
  return written;
}

}  // namespace records_detail

namespace {
}  // namespace

namespace records_detail {
result<size_t, batch_error> decompress_into(compression codec, std::span<const uint8_t> in,
                                            size_t output_bytes_max, std::vector<uint8_t>& buf) {
  switch (codec) {
    case compression::none:
      if (in.size() > output_bytes_max) return over_cap("uncompressed", output_bytes_max);
      if (buf.size() < in.size()) buf.resize(in.size());
      if (!in.empty()) std::memcpy(buf.data(), in.data(), in.size());
      return in.size();
    case compression::gzip: return gzip_decompress(in, output_bytes_max, buf);
    case compression::snappy: return snappy_decompress(in, output_bytes_max, buf);
    case compression::lz4: return lz4_decompress(in, output_bytes_max, buf);
    case compression::zstd: return zstd_decompress(in, output_bytes_max, buf);
  }
  return failure{batch_error{error_code::unsupported_compression_type,
                             fmt::format("unknown compression codec {}", int(codec))}};
}
}  // namespace records_detail

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
  std::vector<uint8_t> out;
  auto n = records_detail::decompress_into(codec, in, output_bytes_max, out);
  if (!n) return failure{n.error()};
  out.resize(*n);
  return out;
}

}  // namespace gregor::protocol
