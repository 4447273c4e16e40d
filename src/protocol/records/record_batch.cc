// Record batch v2: header view, in-place rewrites, validation of produced batches, record
// iteration and the batch builder. Layout and contract: include/gregor/protocol/record_batch.h.
#include "gregor/protocol/record_batch.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "byte_io.h"
#include "codecs.h"
#include "gregor/base/assert.h"
#include "gregor/base/crc32c.h"
#include "gregor/base/types.h"

namespace gregor::protocol {
namespace {

using namespace records_detail;

constexpr size_t off_batch_length = 8;
constexpr size_t off_partition_leader_epoch = 12;
constexpr size_t off_magic = 16;
constexpr size_t off_crc = 17;
constexpr size_t off_attributes = 21;
constexpr size_t off_last_offset_delta = 23;
constexpr size_t off_base_timestamp = 27;
constexpr size_t off_max_timestamp = 35;
constexpr size_t off_producer_id = 43;
constexpr size_t off_producer_epoch = 51;
constexpr size_t off_base_sequence = 53;
constexpr size_t off_records_count = 57;
constexpr int32_t batch_length_min = int32_t(batch_header_size - batch_log_overhead);  // 49
constexpr int16_t attr_log_append_time = 0x08;
// Smallest possible record: length, attributes, timestamp delta, offset delta, key length,
// value length, header count, one byte each.
constexpr size_t record_bytes_min = 7;

failure<batch_error> fail(error_code code, std::string message) {
  return failure{batch_error{code, std::move(message)}};
}

struct parsed_record {
  int64_t timestamp_delta = 0;
  int32_t offset_delta = 0;
  std::optional<std::string_view> key;
  std::optional<std::string_view> value;
};

// Reads a nullable length-prefixed field; a length below -1 is malformed.
std::optional<std::string_view> read_nullable(record_reader& r) {
  int32_t n = r.read_varint();
  if (n < -1) r.fail();
  if (r.failed() || n == -1) return std::nullopt;
  return r.read_bytes(size_t(n));
}

// Parses one record. Headers go to `headers` when it is non-null. Returns an error text or "".
std::string parse_record(record_reader& outer, parsed_record& rec, std::vector<record_header_view>* headers) {
  int32_t length = outer.read_varint();
  if (outer.failed() || length < 0 || size_t(length) > outer.remaining())
    return fmt::format("record length {} is invalid or past the end of the batch", length);
  std::string_view body = outer.read_bytes(size_t(length));
  record_reader r(std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
  r.read_int8();  // attributes: unused in v2
  rec.timestamp_delta = r.read_varlong();
  rec.offset_delta = r.read_varint();
  rec.key = read_nullable(r);
  rec.value = read_nullable(r);
  int32_t header_count = r.read_varint();
  // Each header takes at least two bytes: bound the count before looping over it.
  if (header_count < 0 || size_t(header_count) > r.remaining() / 2) r.fail();
  if (headers) headers->clear();
  for (int32_t i = 0; i < header_count && !r.failed(); ++i) {
    int32_t key_length = r.read_varint();
    if (key_length < 0) r.fail();
    std::string_view key = r.read_bytes(size_t(std::max(key_length, 0)));
    std::optional<std::string_view> value = read_nullable(r);
    if (headers && !r.failed()) headers->push_back({key, value});
  }
  if (r.failed()) return "malformed record (bad varint, field length or header)";
  if (r.remaining() != 0)
    return fmt::format("record has {} bytes beyond its fields", r.remaining());
  return {};
}

// Walks exactly `count` records that must fill `section` exactly; calls fn(index, record), which
// returns an error text or "" to continue.
template <class Fn>
std::string walk_records(std::span<const uint8_t> section, int32_t count, std::vector<record_header_view>* headers,
                         Fn&& fn) {
  if (count < 0 || size_t(count) > section.size() / record_bytes_min)
    return fmt::format("records_count {} does not fit in {} bytes of records", count, section.size());
  record_reader r(section);
  parsed_record rec;
  for (int32_t i = 0; i < count; ++i) {
    std::string err = parse_record(r, rec, headers);
    if (!err.empty()) return fmt::format("record {}: {}", i, err);
    err = fn(i, rec);
    if (!err.empty()) return err;
  }
  if (r.remaining() != 0)
    return fmt::format("{} bytes remain after the declared {} records", r.remaining(), count);
  return {};
}

int64_t add_wrapping(int64_t a, int64_t b) { return int64_t(uint64_t(a) + uint64_t(b)); }

// ---- streaming records sections ----
// A compressed records section is walked through a decompression stream (section_decoder), a
// window at a time, as Kafka's LogValidator iterates a compressed batch: memory stays at the window
// (plus the codec's state) whatever the section inflates to. A record wholly inside the window is
// parsed in place by parse_record, exactly as an uncompressed section is; validation skips the
// key, value and header bytes of a record larger than the window field by field (Kafka's
// skipKeyValueIterator), and record iteration (for_each_record, which must hand out the bytes)
// grows the window to hold that one record, up to its cap.

// The window validation decompresses into: one per thread, reused from batch to batch.
constexpr size_t stream_window_bytes = 1u << 20;
// A record is parsed in place when its length prefix and body fit in the window; longer varints
// than these never occur in a well-formed record.
constexpr size_t varint_bytes_max = 5, varlong_bytes_max = 10;

std::vector<uint8_t>& validation_window() {
  thread_local std::vector<uint8_t> window(stream_window_bytes);
  return window;
}
// Snappy blocks for validation (xerial chunks are 32 KiB; a raw section is one block, released
// after use when large).
constexpr size_t snappy_scratch_bytes_max = 8u << 20;
std::vector<uint8_t>& validation_snappy_scratch() {
  thread_local std::vector<uint8_t> scratch;
  return scratch;
}

// Bytes of one records section, pulled from a section_decoder into `buf`: [_pos, _end) is what
// has been inflated and not yet consumed. Inflating more than `cap` bytes in all is an error.
class section_stream {
 public:
  section_stream(section_decoder& dec, std::vector<uint8_t>& buf, uint64_t cap)
      : _dec(dec), _buf(buf), _cap(cap) {}

  std::span<const uint8_t> available() const { return {_buf.data() + _pos, _end - _pos}; }
  void consume(size_t n) { _pos += n; }
  // Makes at least n bytes available in one piece, fewer only at the end of the section (or on an
  // error). Grows the buffer when n exceeds it.
  void want(size_t n) {
    if (_end - _pos >= n) return;
    if (_pos > 0) {
      std::memmove(_buf.data(), _buf.data() + _pos, _end - _pos);
      _end -= _pos;
      _pos = 0;
    }
    while (_end < n) {
      // Grow (doubling, never past n) only as the bytes arrive: a record's declared length alone
      // allocates nothing.
      if (_end == _buf.size()) _buf.resize(std::min(n, std::max<size_t>(_buf.size() * 2, 64u << 10)));
      if (!fill()) break;
    }
  }
  // Discards n bytes; false if the section ends (or fails) first.
  bool skip(uint64_t n) {
    for (;;) {
      const size_t take = size_t(std::min<uint64_t>(n, _end - _pos));
      _pos += take;
      n -= take;
      if (n == 0) return true;
      _pos = _end = 0;
      if (!fill()) return false;
    }
  }
  // The decoder's error, or the cap's, once the stream has stopped short.
  const batch_error* error() const { return _over_cap ? &*_over_cap : _dec.error(); }
  bool at_end() {  // nothing left: the section ended cleanly (check error() otherwise)
    want(1);
    return _pos == _end && !error();
  }

 private:
  // Inflates more into the free space past _end; false when nothing more comes.
  bool fill() {
    if (_over_cap || _dec.ended() || _dec.error()) return false;
    std::span<uint8_t> space(_buf.data() + _end, _buf.size() - _end);
    // Never inflate more than one byte past the cap.
    const uint64_t left = _cap - std::min(_cap, _dec.produced());
    if (left < space.size()) space = space.first(size_t(left) + 1);
    const size_t n = _dec.read(space);
    _end += n;
    if (_dec.produced() > _cap)
      _over_cap = batch_error{error_code::message_too_large,
                              fmt::format("the records section inflates to more than {} bytes, the limit for "
                                          "one batch; send smaller batches", _cap)};
    return n > 0;
  }

  section_decoder& _dec;
  std::vector<uint8_t>& _buf;
  uint64_t _cap;
  size_t _pos = 0, _end = 0;
  std::optional<batch_error> _over_cap;
};

// An error found walking a records section: a malformed record (INVALID_RECORD, or what the
// caller maps it to) or a stream that could not be inflated (its own code, CORRUPT_MESSAGE).
struct walk_error {
  std::string message;
  const batch_error* stream = nullptr;
  std::string too_large;  // a record over the iteration limit (CORRUPT_MESSAGE)
};
walk_error invalid(std::string message) { return walk_error{std::move(message), nullptr, {}}; }
walk_error undecodable(const batch_error* stream) { return walk_error{{}, stream, {}}; }

// Reads the fields of a record longer than the window without holding it: `budget` is what the
// record's length says remains of it. Keys, values and header bytes are skipped; rec.key is set
// to an empty view when the record has a key. Returns an error text or "".
std::string skim_record(section_stream& s, uint64_t budget, parsed_record& rec, const batch_error*& stream_error) {
  bool bad = false;
  auto varint = [&](bool is_long) -> int64_t {
    if (bad) return 0;
    const size_t n = size_t(std::min<uint64_t>(is_long ? varlong_bytes_max : varint_bytes_max, budget));
    s.want(n);
    auto avail = s.available();
    if (avail.size() < n && s.error()) stream_error = s.error();
    record_reader r(avail.first(std::min(avail.size(), n)));
    const int64_t v = is_long ? r.read_varlong() : r.read_varint();
    if (r.failed()) {
      bad = true;
      return 0;
    }
    const size_t used = size_t(r.position() - avail.data());
    s.consume(used);
    budget -= used;
    return v;
  };
  auto skip = [&](int64_t n) {
    if (bad) return;
    if (n < 0 || uint64_t(n) > budget) {
      bad = true;
      return;
    }
    if (!s.skip(uint64_t(n))) {
      if (s.error()) stream_error = s.error();
      bad = true;
      return;
    }
    budget -= uint64_t(n);
  };
  // Nullable field: returns whether it was present.
  auto nullable = [&]() {
    const int64_t n = varint(false);
    if (n < -1) bad = true;
    if (bad || n == -1) return false;
    skip(n);
    return !bad;
  };
  skip(1);  // attributes
  rec.timestamp_delta = varint(true);
  rec.offset_delta = int32_t(varint(false));
  rec.key = nullable() ? std::optional<std::string_view>(std::string_view()) : std::nullopt;
  rec.value = nullable() ? std::optional<std::string_view>(std::string_view()) : std::nullopt;
  const int64_t header_count = varint(false);
  if (!bad && (header_count < 0 || uint64_t(header_count) > budget / 2)) bad = true;
  for (int64_t i = 0; i < header_count && !bad; ++i) {
    const int64_t key_length = varint(false);
    if (key_length < 0) bad = true;
    skip(key_length);
    nullable();
  }
  if (stream_error) return "the records section could not be decompressed";
  if (bad) return "malformed record (bad varint, field length or header)";
  if (budget != 0) return fmt::format("record has {} bytes beyond its fields", budget);
  return {};
}

// Walks exactly `count` records that must fill the section exactly, as walk_records does, but
// pulling the section from a stream. A record longer than the window is skimmed (grow_window
// false: validation) or read whole into a window grown for it (grow_window true: iteration; the
// section stream's cap bounds that). Calls fn(index, record) as walk_records does.
template <class Fn>
walk_error walk_stream(section_stream& s, int32_t count, bool grow_window, size_t window, uint64_t record_bytes_max,
                       std::vector<record_header_view>* headers, Fn&& fn) {
  if (count < 0) return invalid(fmt::format("records_count {} is negative", count));
  parsed_record rec;
  for (int32_t i = 0; i < count; ++i) {
    s.want(varint_bytes_max);
    auto avail = s.available();
    if (avail.empty()) {
      if (s.error()) return undecodable(s.error());
      return invalid(fmt::format("records_count {} but the records section ends after {} records", count, i));
    }
    record_reader lr(avail.first(std::min(avail.size(), varint_bytes_max)));
    const int32_t length = lr.read_varint();
    if (lr.failed() && avail.size() < varint_bytes_max && s.error()) return undecodable(s.error());
    if (lr.failed() || length < 0)
      return invalid(fmt::format("record {}: record length {} is invalid or past the end of the batch", i, length));
    const size_t prefix = size_t(lr.position() - avail.data());
    const uint64_t whole = prefix + uint64_t(length);
    if (grow_window && whole > record_bytes_max)
      return walk_error{{}, nullptr, fmt::format("record {} of {} bytes exceeds the {}-byte limit for one record", i, whole,
                                       record_bytes_max)};
    if (whole <= window || grow_window) {
      s.want(size_t(whole));
      avail = s.available();
      if (avail.size() < whole) {
        if (s.error()) return undecodable(s.error());
        return invalid(fmt::format("record {}: record length {} is invalid or past the end of the batch", i, length));
      }
      record_reader r(avail.first(size_t(whole)));
      std::string err = parse_record(r, rec, headers);
      if (!err.empty()) return invalid(fmt::format("record {}: {}", i, err));
      err = fn(i, rec);
      // fn has seen the views; the bytes may be overwritten from here on.
      s.consume(size_t(whole));
      if (!err.empty()) return invalid(std::move(err));
      continue;
    }
    s.consume(prefix);
    const batch_error* stream_error = nullptr;
    std::string err = skim_record(s, uint64_t(length), rec, stream_error);
    if (stream_error) return undecodable(stream_error);
    if (!err.empty()) return invalid(fmt::format("record {}: {}", i, err));
    if (headers) headers->clear();
    err = fn(i, rec);
    if (!err.empty()) return invalid(std::move(err));
  }
  if (!s.at_end()) {
    if (s.error()) return undecodable(s.error());
    return invalid(fmt::format("bytes remain after the declared {} records", count));
  }
  return {};
}

// Checks one batch of a Produce request whose header has been parsed and whose bytes are all
// present. Order follows Kafka: offsets, CRC, size, codec, batch flags, then the records.
// On success returns the largest record timestamp.
result<int64_t, batch_error> validate_one(std::span<const uint8_t> batch, const batch_header& h,
                                          const validation_options& opts) {
  if (h.total_size() > size_t(std::max(opts.max_message_bytes, 0)))
    return fail(error_code::message_too_large,
                fmt::format("batch of {} bytes exceeds max.message.bytes {}", h.total_size(), opts.max_message_bytes));
  if (h.base_offset != 0)
    return fail(error_code::invalid_record,
                fmt::format("the base offset of a produced batch must be 0, but it is {}", h.base_offset));
  if (!batch_crc_ok(batch))
    return fail(error_code::corrupt_message,
                fmt::format("batch CRC32C mismatch: stored {:#010x}, computed {:#010x}", h.crc, compute_batch_crc(batch)));
  if ((h.attributes & 0x07) > 4)
    return fail(error_code::unsupported_compression_type, fmt::format("unknown compression codec id {}", h.attributes & 0x07));
  if (h.is_control()) return fail(error_code::invalid_record, "clients may not write control batches");
  if (h.records_count <= 0)
    return fail(error_code::invalid_record, fmt::format("invalid records_count {}", h.records_count));
  if (h.last_offset_delta < 0 || int64_t(h.records_count) != int64_t(h.last_offset_delta) + 1)
    return fail(error_code::invalid_record, fmt::format("last_offset_delta {} disagrees with records_count {}",
                                                        h.last_offset_delta, h.records_count));
  if (h.producer_id >= 0 && h.base_sequence < 0)
    return fail(error_code::invalid_record,
                fmt::format("invalid base sequence {} for producer id {}", h.base_sequence, h.producer_id));
  if (h.ts_type() == timestamp_type::log_append_time)
    return fail(error_code::invalid_timestamp, "producers may not set the LogAppendTime timestamp type");

  int64_t lower = INT64_MIN, upper = INT64_MAX;
  bool check_time = opts.ts_type == timestamp_type::create_time;
  if (__builtin_sub_overflow(opts.now_ms, opts.timestamp_before_max_ms, &lower)) lower = INT64_MIN;
  if (__builtin_add_overflow(opts.now_ms, opts.timestamp_after_max_ms, &upper)) upper = INT64_MAX;
  error_code record_error = error_code::invalid_record;
  int64_t max_timestamp = no_timestamp;
  auto check = [&](int32_t i, const parsed_record& rec) {
    if (rec.offset_delta != i)
      return fmt::format("record {} has offset delta {}, expected {}", i, rec.offset_delta, i);
    if (opts.require_keys && !rec.key)
      return fmt::format("record {} has no key; a compacted topic requires keys", i);
    int64_t ts = add_wrapping(h.base_timestamp, rec.timestamp_delta);
    if (check_time && ts != no_timestamp && (ts < lower || ts > upper)) {
      record_error = error_code::invalid_timestamp;
      return fmt::format("record {} timestamp {} is outside [{}, {}]", i, ts, lower, upper);
    }
    max_timestamp = std::max(max_timestamp, ts);
    return std::string();
  };
  auto section = batch.subspan(batch_header_size, h.total_size() - batch_header_size);
  if (h.codec() == compression::none) {
    std::string err = walk_records(section, h.records_count, nullptr, check);
    if (!err.empty()) return fail(record_error, std::move(err));
    return max_timestamp;
  }
  // Compressed: inflated through a window and walked record by record; a valid section of any
  // inflated size is accepted in bounded memory (Kafka has no inflated-size limit either).
  std::vector<uint8_t>& snappy_blocks = validation_snappy_scratch();
  struct release_if_large {
    std::vector<uint8_t>& buf;
    ~release_if_large() {
      if (buf.size() > snappy_scratch_bytes_max) std::vector<uint8_t>().swap(buf);
    }
  } release{snappy_blocks};
  section_decoder dec(h.codec(), section, snappy_blocks);
  std::vector<uint8_t>& window = validation_window();
  uint64_t cap = opts.decompressed_bytes_max;
  if (cap == 0)
    cap = std::max(inflated_bytes_floor, inflated_ratio_max * uint64_t(std::max(opts.max_message_bytes, 0)));
  section_stream stream(dec, window, cap);
  walk_error err = walk_stream(stream, h.records_count, false, window.size(), 0, nullptr, check);
  if (err.stream) return failure{*err.stream};
  if (!err.message.empty()) return fail(record_error, std::move(err.message));
  return max_timestamp;
}

}  // namespace

std::optional<batch_header> parse_batch_header(std::span<const uint8_t> bytes) {
  if (bytes.size() < batch_header_size || bytes[off_magic] != 2) return std::nullopt;
  const uint8_t* p = bytes.data();
  batch_header h;
  h.base_offset = int64_t(load_be64(p));
  h.batch_length = int32_t(load_be32(p + off_batch_length));
  h.partition_leader_epoch = int32_t(load_be32(p + off_partition_leader_epoch));
  h.magic = int8_t(p[off_magic]);
  h.crc = load_be32(p + off_crc);
  h.attributes = int16_t(load_be16(p + off_attributes));
  h.last_offset_delta = int32_t(load_be32(p + off_last_offset_delta));
  h.base_timestamp = int64_t(load_be64(p + off_base_timestamp));
  h.max_timestamp = int64_t(load_be64(p + off_max_timestamp));
  h.producer_id = int64_t(load_be64(p + off_producer_id));
  h.producer_epoch = int16_t(load_be16(p + off_producer_epoch));
  h.base_sequence = int32_t(load_be32(p + off_base_sequence));
  h.records_count = int32_t(load_be32(p + off_records_count));
  return h;
}

void set_base_offset(std::span<uint8_t> batch, int64_t base_offset) {
  GREGOR_ASSERT(batch.size() >= batch_header_size);
  store_be64(batch.data(), uint64_t(base_offset));
}

void set_partition_leader_epoch(std::span<uint8_t> batch, int32_t epoch) {
  GREGOR_ASSERT(batch.size() >= batch_header_size);
  store_be32(batch.data() + off_partition_leader_epoch, uint32_t(epoch));
}

void set_log_append_time(std::span<uint8_t> batch, int64_t ts) {
  GREGOR_ASSERT(batch.size() >= batch_header_size);
  uint16_t attributes = load_be16(batch.data() + off_attributes) | attr_log_append_time;
  store_be16(batch.data() + off_attributes, attributes);
  store_be64(batch.data() + off_max_timestamp, uint64_t(ts));
  store_be32(batch.data() + off_crc, compute_batch_crc(batch));
}

void set_max_timestamp(std::span<uint8_t> batch, int64_t ts) {
  GREGOR_ASSERT(batch.size() >= batch_header_size);
  store_be64(batch.data() + off_max_timestamp, uint64_t(ts));
  store_be32(batch.data() + off_crc, compute_batch_crc(batch));
}

uint32_t compute_batch_crc(std::span<const uint8_t> batch) {
  GREGOR_ASSERT(batch.size() >= off_attributes);
  return crc32c(batch.data() + off_attributes, batch.size() - off_attributes);
}

bool batch_crc_ok(std::span<const uint8_t> batch) {
  if (batch.size() < batch_header_size) return false;
  return load_be32(batch.data() + off_crc) == compute_batch_crc(batch);
}

result<std::vector<validated_batch>, batch_error> validate_produce_records(std::span<uint8_t> records,
                                                                          const validation_options& opts) {
  // Kafka: "Produce requests ... must have at least one record batch" (InvalidRecordException).
  if (records.empty()) return fail(error_code::invalid_record, "no record batch for the partition");
  std::vector<validated_batch> batches;
  size_t pos = 0;
  while (pos < records.size()) {
    auto rest = records.subspan(pos);
    if (rest.size() <= off_magic)
      return fail(error_code::corrupt_message, fmt::format("{} trailing bytes are not a batch", rest.size()));
    int8_t magic = int8_t(rest[off_magic]);
    if (magic == 0 || magic == 1)
      return fail(error_code::unsupported_for_message_format,
                  fmt::format("message format v{} is not supported; produce requests must use v2 batches", magic));
    if (magic != 2) return fail(error_code::corrupt_message, fmt::format("unknown magic byte {}", magic));
    auto h = parse_batch_header(rest);
    if (!h) return fail(error_code::corrupt_message, fmt::format("truncated batch header ({} bytes)", rest.size()));
    if (h->batch_length < batch_length_min)
      return fail(error_code::corrupt_message, fmt::format("batch_length {} is below the minimum {}", h->batch_length, batch_length_min));
    if (h->total_size() > rest.size())
      return fail(error_code::corrupt_message,
                  fmt::format("truncated batch: {} bytes declared, {} present", h->total_size(), rest.size()));
    auto batch = rest.first(h->total_size());
    auto checked = validate_one(batch, *h, opts);
    if (!checked) return failure{checked.error()};
    batches.push_back({*h, batch, *checked});
    pos += batch.size();
  }
  if (opts.exactly_one_batch && batches.size() > 1)
    return fail(error_code::invalid_record,
                fmt::format("produce requests may carry exactly one batch per partition, got {}", batches.size()));
  return batches;
}

result<void, batch_error> for_each_record(std::span<const uint8_t> batch,
                                          const std::function<void(const record_view&)>& fn,
                                          size_t record_bytes_max) {
  auto h = parse_batch_header(batch);
  if (!h) return fail(error_code::corrupt_message, "not a complete v2 batch header");
  if (h->batch_length < batch_length_min || h->total_size() > batch.size())
    return fail(error_code::corrupt_message, fmt::format("batch_length {} does not fit {} bytes", h->batch_length, batch.size()));
  if ((h->attributes & 0x07) > 4)
    return fail(error_code::unsupported_compression_type, fmt::format("unknown compression codec id {}", h->attributes & 0x07));
  record_view view;
  const bool log_append_time = h->ts_type() == timestamp_type::log_append_time;
  auto visit = [&](int32_t, const parsed_record& rec) {
    view.offset = add_wrapping(h->base_offset, rec.offset_delta);
    view.timestamp = log_append_time ? h->max_timestamp : add_wrapping(h->base_timestamp, rec.timestamp_delta);
    view.key = rec.key;
    view.value = rec.value;
    fn(view);
    return std::string();
  };
  auto section = batch.subspan(batch_header_size, h->total_size() - batch_header_size);
  if (h->codec() == compression::none) {
    std::string err = walk_records(section, h->records_count, &view.headers, visit);
    if (!err.empty()) return fail(error_code::corrupt_message, std::move(err));
    return ok;
  }
  // Streamed as validation streams it, each record whole in a window grown to hold it (views
  // need the bytes); its own buffers, so fn may iterate another batch.
  std::vector<uint8_t> snappy_blocks;
  section_decoder dec(h->codec(), section, snappy_blocks);
  std::vector<uint8_t> window(std::min(stream_window_bytes, std::max<size_t>(section.size() * 4, 64u << 10)));
  section_stream stream(dec, window, UINT64_MAX);
  walk_error err = walk_stream(stream, h->records_count, true, window.size(), record_bytes_max, &view.headers, visit);
  if (err.stream) return failure{*err.stream};
  if (!err.too_large.empty()) return fail(error_code::corrupt_message, std::move(err.too_large));
  if (!err.message.empty()) return fail(error_code::corrupt_message, std::move(err.message));
  return ok;
}

std::vector<uint8_t> build_batch(const std::vector<record_input>& records, const batch_options& opts) {
  int64_t base_timestamp = opts.base_timestamp;
  if (!records.empty() && records.front().timestamp != no_timestamp) base_timestamp = records.front().timestamp;
  int64_t max_timestamp = records.empty() ? no_timestamp : INT64_MIN;

  std::vector<uint8_t> section;
  std::vector<uint8_t> body;
  auto append_nullable = [&](const std::optional<std::string>& s) {
    append_varint(body, s ? int64_t(s->size()) : -1);
    if (s) body.insert(body.end(), s->begin(), s->end());
  };
  for (size_t i = 0; i < records.size(); ++i) {
    const record_input& in = records[i];
    int64_t ts = in.timestamp != no_timestamp ? in.timestamp : base_timestamp;
    max_timestamp = std::max(max_timestamp, ts);
    body.clear();
    body.push_back(0);  // attributes
    append_varint(body, ts - base_timestamp);
    append_varint(body, int64_t(i));
    append_nullable(in.key);
    append_nullable(in.value);
    append_varint(body, int64_t(in.headers.size()));
    for (const auto& [key, value] : in.headers) {
      append_varint(body, int64_t(key.size()));
      body.insert(body.end(), key.begin(), key.end());
      append_nullable(value);
    }
    append_varint(section, int64_t(body.size()));
    section.insert(section.end(), body.begin(), body.end());
  }
  if (opts.codec != compression::none) {
    auto compressed = compress(opts.codec, section);
    GREGOR_ASSERT(compressed.has_value());
    section = std::move(*compressed);
  }

  int16_t attributes = int16_t(opts.codec) | (opts.transactional ? 0x10 : 0) | (opts.control ? 0x20 : 0);
  std::vector<uint8_t> out(batch_header_size + section.size());
  uint8_t* p = out.data();
  store_be64(p, uint64_t(opts.base_offset));
  store_be32(p + off_batch_length, uint32_t(out.size() - batch_log_overhead));
  store_be32(p + off_partition_leader_epoch, uint32_t(-1));
  p[off_magic] = 2;
  store_be16(p + off_attributes, uint16_t(attributes));
  store_be32(p + off_last_offset_delta, uint32_t(int32_t(records.size()) - 1));
  store_be64(p + off_base_timestamp, uint64_t(base_timestamp));
  store_be64(p + off_max_timestamp, uint64_t(max_timestamp));
  store_be64(p + off_producer_id, uint64_t(opts.producer_id));
  store_be16(p + off_producer_epoch, uint16_t(opts.producer_epoch));
  store_be32(p + off_base_sequence, uint32_t(opts.base_sequence));
  store_be32(p + off_records_count, uint32_t(records.size()));
  std::copy(section.begin(), section.end(), out.begin() + batch_header_size);
  store_be32(p + off_crc, compute_batch_crc(out));
  return out;
}

}  // namespace gregor::protocol
