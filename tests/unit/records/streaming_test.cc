// Streaming validation of compressed batches (record_batch.cc walk_stream, codecs.cc
// section_decoder): a valid batch of any inflated size is accepted in bounded memory, as Kafka's
// LogValidator accepts it; malformed, truncated and miscounted sections get Kafka's codes.
// Sections are generated and compressed piece by piece with the codec libraries, so neither the
// test nor the code under test holds the inflated bytes.
#include <gtest/gtest.h>
#include <lz4frame.h>
#include <snappy.h>
#include <zlib.h>
#include <zstd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gregor/protocol/record_batch.h"

namespace {

using namespace gregor::protocol;
using bytes = std::vector<uint8_t>;
using sink_fn = std::function<void(const uint8_t*, size_t)>;

constexpr int64_t base_ts = 1'700'000'000'000;

void put_be32(bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(v >> (24 - 8 * i));
}
void fix_crc(bytes& b) { put_be32(b, 17, compute_batch_crc(b)); }

void varint(bytes& out, int64_t v) {
  uint64_t z = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
  while (z >= 0x80) {
    out.push_back(uint8_t(z | 0x80));
    z >>= 7;
  }
  out.push_back(uint8_t(z));
}

// One record to generate: a key (or none) and `value_bytes` zero bytes; `extra_declared` is added
// to the record's declared length (a record claiming more bytes than follow it).
struct gen_record {
  bool key = true;
  uint64_t value_bytes = 0;
  int64_t extra_declared = 0;
};

// Emits the records section piece by piece (zeros in 1 MiB pieces).
void generate(const std::vector<gen_record>& recs, const sink_fn& sink) {
  static const bytes zeros(1u << 20, 0);
  for (size_t i = 0; i < recs.size(); ++i) {
    const auto& r = recs[i];
    bytes head;
    head.push_back(0);  // attributes
    varint(head, int64_t(i));  // timestamp delta
    varint(head, int64_t(i));  // offset delta
    std::string key = "k" + std::to_string(i);
    if (r.key) {
      varint(head, int64_t(key.size()));
      head.insert(head.end(), key.begin(), key.end());
    } else {
      varint(head, -1);
    }
    varint(head, int64_t(r.value_bytes));
    const uint64_t body = head.size() + r.value_bytes + 1;  // + header count
    bytes prefix;
    varint(prefix, int64_t(body) + r.extra_declared);
    prefix.insert(prefix.end(), head.begin(), head.end());
    sink(prefix.data(), prefix.size());
    for (uint64_t left = r.value_bytes; left > 0;) {
      const size_t n = size_t(std::min<uint64_t>(left, zeros.size()));
      sink(zeros.data(), n);
      left -= n;
    }
    const uint8_t no_headers = 0;
    sink(&no_headers, 1);
  }
}

enum class framing { gzip, snappy_xerial, snappy_raw, lz4, zstd };
const framing all_framings[] = {framing::gzip, framing::snappy_xerial, framing::snappy_raw, framing::lz4,
                                framing::zstd};
const char* name(framing f) {
  switch (f) {
    case framing::gzip: return "gzip";
    case framing::snappy_xerial: return "snappy-xerial";
    case framing::snappy_raw: return "snappy-raw";
    case framing::lz4: return "lz4";
    case framing::zstd: return "zstd";
  }
  return "?";
}
compression codec_of(framing f) {
  switch (f) {
    case framing::gzip: return compression::gzip;
    case framing::snappy_xerial:
    case framing::snappy_raw: return compression::snappy;
    case framing::lz4: return compression::lz4;
    case framing::zstd: return compression::zstd;
  }
  return compression::none;
}

// Compresses the generated section as a stream (raw snappy, a single block, needs it whole).
bytes compress_stream(framing f, const std::vector<gen_record>& recs) {
  bytes out;
  switch (f) {
    case framing::gzip: {
      z_stream zs{};
      EXPECT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
      bytes chunk(1u << 16);
      auto pump = [&](const uint8_t* p, size_t n, int flush) {
        zs.next_in = const_cast<Bytef*>(p);
        zs.avail_in = uInt(n);
        int rc;
        do {
          zs.next_out = chunk.data();
          zs.avail_out = uInt(chunk.size());
          rc = deflate(&zs, flush);
          out.insert(out.end(), chunk.data(), chunk.data() + (chunk.size() - zs.avail_out));
        } while (zs.avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
      };
      generate(recs, [&](const uint8_t* p, size_t n) { pump(p, n, Z_NO_FLUSH); });
      pump(nullptr, 0, Z_FINISH);
      deflateEnd(&zs);
      break;
    }
    case framing::snappy_xerial: {
      const uint8_t header[16] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
      out.assign(header, header + 16);
      bytes block;
      auto flush = [&] {
        if (block.empty()) return;
        std::string packed;
        snappy::Compress(reinterpret_cast<const char*>(block.data()), block.size(), &packed);
        const size_t at = out.size();
        out.resize(at + 4);
        put_be32(out, at, uint32_t(packed.size()));
        out.insert(out.end(), packed.begin(), packed.end());
        block.clear();
      };
      generate(recs, [&](const uint8_t* p, size_t n) {
        while (n > 0) {
          const size_t take = std::min(n, size_t(32 * 1024) - block.size());
          block.insert(block.end(), p, p + take);
          p += take;
          n -= take;
          if (block.size() == 32 * 1024) flush();
        }
      });
      flush();
      break;
    }
    case framing::snappy_raw: {
      bytes whole;
      generate(recs, [&](const uint8_t* p, size_t n) { whole.insert(whole.end(), p, p + n); });
      std::string packed;
      snappy::Compress(reinterpret_cast<const char*>(whole.data()), whole.size(), &packed);
      out.assign(packed.begin(), packed.end());
      break;
    }
    case framing::lz4: {
      LZ4F_cctx* ctx = nullptr;
      EXPECT_FALSE(LZ4F_isError(LZ4F_createCompressionContext(&ctx, LZ4F_VERSION)));
      LZ4F_preferences_t prefs{};
      prefs.frameInfo.blockSizeID = LZ4F_max64KB;
      prefs.frameInfo.blockMode = LZ4F_blockIndependent;
      bytes buf(LZ4F_compressBound(1u << 20, &prefs) + 64);
      size_t n = LZ4F_compressBegin(ctx, buf.data(), buf.size(), &prefs);
      out.insert(out.end(), buf.data(), buf.data() + n);
      generate(recs, [&](const uint8_t* p, size_t len) {
        size_t w = LZ4F_compressUpdate(ctx, buf.data(), buf.size(), p, len, nullptr);
        EXPECT_FALSE(LZ4F_isError(w));
        out.insert(out.end(), buf.data(), buf.data() + w);
      });
      n = LZ4F_compressEnd(ctx, buf.data(), buf.size(), nullptr);
      out.insert(out.end(), buf.data(), buf.data() + n);
      LZ4F_freeCompressionContext(ctx);
      break;
    }
    case framing::zstd: {
      ZSTD_CCtx* ctx = ZSTD_createCCtx();
      bytes buf(ZSTD_CStreamOutSize());
      auto pump = [&](const uint8_t* p, size_t n, ZSTD_EndDirective end) {
        ZSTD_inBuffer in{p, n, 0};
        size_t left;
        do {
          ZSTD_outBuffer o{buf.data(), buf.size(), 0};
          left = ZSTD_compressStream2(ctx, &o, &in, end);
          EXPECT_FALSE(ZSTD_isError(left));
          out.insert(out.end(), buf.data(), buf.data() + o.pos);
        } while (end == ZSTD_e_end ? left != 0 : in.pos < in.size);
      };
      generate(recs, [&](const uint8_t* p, size_t n) { pump(p, n, ZSTD_e_continue); });
      pump(nullptr, 0, ZSTD_e_end);
      ZSTD_freeCCtx(ctx);
      break;
    }
  }
  return out;
}

// A batch around a compressed section; `count` is written to records_count and last_offset_delta.
bytes batch_of(framing f, const bytes& section, int32_t count) {
  batch_options bo;
  bo.codec = codec_of(f);
  bo.base_timestamp = base_ts;
  std::vector<record_input> one(1);
  one[0].key = "k";
  bytes batch = build_batch(one, bo);
  batch.resize(61);
  batch.insert(batch.end(), section.begin(), section.end());
  put_be32(batch, 8, uint32_t(batch.size() - 12));
  put_be32(batch, 23, uint32_t(count - 1));
  put_be32(batch, 57, uint32_t(count));
  fix_crc(batch);
  return batch;
}

// Peak RSS (VmHWM) since the last reset, in bytes; -1 where /proc/self/clear_refs is unavailable.
bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return bool(f);
}
long long kib_field(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::atoll(line.c_str() + std::strlen(field)) * 1024;
  return -1;
}

// 2,000 small records, one of 40 MiB, ten of 3 MiB (longer than the 1 MiB window: skimmed),
// then 100 small ones: about 70 MiB inflated, past the old 64 MiB limit.
std::vector<gen_record> big_section_records() {
  std::vector<gen_record> recs(2000, gen_record{true, 100, 0});
  recs.push_back({true, 40u << 20, 0});
  for (int i = 0; i < 10; ++i) recs.push_back({true, 3u << 20, 0});
  for (int i = 0; i < 100; ++i) recs.push_back({true, 200, 0});
  return recs;
}
uint64_t inflated_size(const std::vector<gen_record>& recs) {
  uint64_t n = 0;
  generate(recs, [&](const uint8_t*, size_t len) { n += len; });
  return n;
}

// Batches here are larger than the default max.message.bytes (the topic would raise it).
validation_options big_opts() {
  validation_options o;
  o.max_message_bytes = INT32_MAX;
  return o;
}

struct built {
  std::vector<gen_record> recs;
  bytes section;
  bytes batch;
};
const built& big_batch(framing f) {
  static std::map<framing, built> cache;
  auto it = cache.find(f);
  if (it == cache.end()) {
    built b;
    b.recs = big_section_records();
    b.section = compress_stream(f, b.recs);
    b.batch = batch_of(f, b.section, int32_t(b.recs.size()));
    it = cache.emplace(f, std::move(b)).first;
  }
  return it->second;
}

TEST(streaming_validation, the_default_inflated_limit_is_2048_times_max_message_bytes) {
  // 70 MiB inflated: over 2048 x 32 KiB (64 MiB, also the floor), under 2048 x 64 KiB (128 MiB).
  bytes batch = big_batch(framing::zstd).batch;
  ASSERT_LT(batch.size(), size_t(32) << 10);
  validation_options opts;
  opts.max_message_bytes = 32 << 10;
  auto r = validate_produce_records(batch, opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, error_code::message_too_large) << r.error().message;
  opts.max_message_bytes = 64 << 10;
  EXPECT_TRUE(validate_produce_records(batch, opts));
  EXPECT_TRUE(validate_produce_records(batch, validation_options{}));  // 1 MiB: 2 GiB
}

TEST(streaming_validation, a_valid_batch_inflating_past_64_mib_is_accepted_in_bounded_memory) {
  for (framing f : all_framings) {
    const built& b = big_batch(f);
    ASSERT_GT(inflated_size(b.recs), uint64_t(64) << 20);
    EXPECT_LT(b.batch.size(), size_t(8) << 20) << name(f);
    bytes batch = b.batch;
    const bool measured = reset_peak_rss();
    const long long before = kib_field("VmRSS:");
    auto r = validate_produce_records(batch, big_opts());
    const long long peak = kib_field("VmHWM:");
    ASSERT_TRUE(r) << name(f) << ": " << r.error().message;
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0].records_max_timestamp, base_ts + int64_t(b.recs.size()) - 1) << name(f);
    EXPECT_EQ(batch, b.batch);  // stored as produced
    if (measured && before > 0 && peak > 0) {
      std::printf("%s: %llu MiB inflated from a %zu-byte batch: peak RSS growth %lld KiB\n", name(f),
                  (unsigned long long)(inflated_size(b.recs) >> 20), b.batch.size(), (peak - before) / 1024);
      // The window (1 MiB), the codec's state (zstd: its frame window, 2^21 at level 3), and for
      // raw snappy the one block the format makes it decode whole (the inflated section).
      const long long bound = f == framing::snappy_raw ? (96ll << 20) : (12ll << 20);
      EXPECT_LT(peak - before, bound) << name(f) << ": peak RSS grew by " << (peak - before) / 1024 << " KiB";
    }
    // The records also iterate (each held whole while the callback sees it: 40 MiB at most).
    int32_t count = 0;
    auto it = for_each_record(b.batch, [&](const record_view& v) {
      EXPECT_EQ(v.offset, count) << name(f);
      ASSERT_TRUE(v.key.has_value());
      ++count;
    });
    ASSERT_TRUE(it) << name(f) << ": " << it.error().message;
    EXPECT_EQ(count, int32_t(b.recs.size())) << name(f);
  }
}

// The inflated limit bounds the CPU of one request on the io thread (record_batch.h
// decompressed_bytes_max): MESSAGE_TOO_LARGE, which makes the Java producer split the batch.
TEST(streaming_validation, over_the_inflated_limit_is_message_too_large) {
  for (framing f : all_framings) {
    bytes batch = big_batch(f).batch;
    validation_options opts = big_opts();
    opts.decompressed_bytes_max = 32u << 20;
    auto r = validate_produce_records(batch, opts);
    ASSERT_FALSE(r) << name(f);
    EXPECT_EQ(r.error().code, error_code::message_too_large) << name(f) << ": " << r.error().message;
    // Iteration limits one record, not the section: the 40 MiB record is over 32 MiB.
    EXPECT_FALSE(for_each_record(batch, [](const record_view&) {}, 32u << 20)) << name(f);
    EXPECT_TRUE(for_each_record(batch, [](const record_view&) {}, 48u << 20)) << name(f);
  }
}

// A section that inflates to zeros: the first record's length is 0, malformed (Kafka: the first
// record read fails, InvalidRecordException), whatever the section would inflate to.
TEST(streaming_validation, a_bomb_of_garbage_is_invalid_record_at_its_first_record) {
  for (framing f : all_framings) {
    std::vector<gen_record> zeros_only;  // generate() emits nothing; build zeros directly
    bytes section;
    if (f == framing::snappy_raw || f == framing::snappy_xerial) {
      bytes raw(8u << 20, 0);
      section = *compress(compression::snappy, raw);
      if (f == framing::snappy_raw) {
        std::string packed;
        snappy::Compress(reinterpret_cast<const char*>(raw.data()), raw.size(), &packed);
        section.assign(packed.begin(), packed.end());
      }
    } else {
      section = *compress(codec_of(f), bytes(256u << 20, 0));
    }
    bytes batch = batch_of(f, section, 1);
    auto t0 = std::chrono::steady_clock::now();
    auto r = validate_produce_records(batch, big_opts());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_FALSE(r) << name(f);
    EXPECT_EQ(r.error().code, error_code::invalid_record) << name(f) << ": " << r.error().message;
    EXPECT_LT(ms, 1000) << name(f) << ": refused only after inflating far past its first record";
  }
}

TEST(streaming_validation, a_truncated_stream_is_corrupt_message_after_its_whole_records) {
  for (framing f : all_framings) {
    const built& b = big_batch(f);
    for (double at : {0.3, 0.9, 0.999}) {
      bytes section(b.section.begin(), b.section.begin() + ptrdiff_t(double(b.section.size()) * at));
      bytes batch = batch_of(f, section, int32_t(b.recs.size()));
      auto r = validate_produce_records(batch, big_opts());
      ASSERT_FALSE(r) << name(f) << " cut at " << at;
      EXPECT_EQ(r.error().code, error_code::corrupt_message) << name(f) << " cut at " << at << ": " << r.error().message;
      EXPECT_FALSE(for_each_record(batch, [](const record_view&) {})) << name(f);
    }
  }
}

TEST(streaming_validation, a_record_declaring_more_than_remains_is_invalid_record) {
  for (framing f : all_framings) {
    // The last record (small, in the window) and a skimmed 3 MiB record at the end.
    for (uint64_t last_value : {uint64_t(200), uint64_t(3) << 20}) {
      auto recs = big_section_records();
      recs.back().value_bytes = last_value;
      recs.back().extra_declared = 1000;
      bytes batch = batch_of(f, compress_stream(f, recs), int32_t(recs.size()));
      auto r = validate_produce_records(batch, big_opts());
      ASSERT_FALSE(r) << name(f);
      EXPECT_EQ(r.error().code, error_code::invalid_record) << name(f) << ": " << r.error().message;
      EXPECT_NE(r.error().message.find("record " + std::to_string(recs.size() - 1)), std::string::npos)
          << r.error().message;
    }
  }
}

TEST(streaming_validation, records_count_disagreeing_with_the_records_is_invalid_record) {
  for (framing f : all_framings) {
    const built& b = big_batch(f);
    const int32_t n = int32_t(b.recs.size());
    for (int32_t count : {n - 1, n + 1}) {
      bytes batch = batch_of(f, b.section, count);
      auto r = validate_produce_records(batch, big_opts());
      ASSERT_FALSE(r) << name(f) << " count " << count;
      EXPECT_EQ(r.error().code, error_code::invalid_record) << name(f) << ": " << r.error().message;
    }
  }
}

TEST(streaming_validation, a_keyless_record_longer_than_the_window_is_refused_for_a_compacted_topic) {
  for (framing f : all_framings) {
    std::vector<gen_record> recs(3, gen_record{true, 100, 0});
    recs.push_back({false, 5u << 20, 0});
    bytes batch = batch_of(f, compress_stream(f, recs), int32_t(recs.size()));
    validation_options opts = big_opts();
    EXPECT_TRUE(validate_produce_records(batch, opts)) << name(f);
    opts.require_keys = true;
    auto r = validate_produce_records(batch, opts);
    ASSERT_FALSE(r) << name(f);
    EXPECT_EQ(r.error().code, error_code::invalid_record) << name(f);
    EXPECT_NE(r.error().message.find("record 3 has no key"), std::string::npos) << r.error().message;
  }
}

// Timing of a valid batch inflating to GREGOR_BOMB_GIB GiB (default 1) per codec: run by hand,
// `records_tests --gtest_also_run_disabled_tests --gtest_filter='*DISABLED_timing*'`.
TEST(streaming_validation, DISABLED_timing_of_gigabyte_batches) {
  const char* env = std::getenv("GREGOR_BOMB_GIB");
  const uint64_t gib = env ? std::strtoull(env, nullptr, 10) : 1;
  for (framing f : {framing::gzip, framing::snappy_xerial, framing::lz4, framing::zstd}) {
    std::vector<gen_record> recs(size_t(gib * 8), gen_record{true, (128u << 20) - 64, 0});
    bytes batch = batch_of(f, compress_stream(f, recs), int32_t(recs.size()));
    auto t0 = std::chrono::steady_clock::now();
    auto r = validate_produce_records(batch, big_opts());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(r) << name(f) << ": " << r.error().message;
    std::printf("%s: %llu GiB inflated from a %zu-byte batch validated in %lld ms\n", name(f),
                (unsigned long long)gib, batch.size(), (long long)ms);
  }
}

}  // namespace
