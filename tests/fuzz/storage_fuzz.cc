// fuzz_storage: the files a broker reads from its log directories at start-up, after a crash left
// them in any state: a segment's .log (recovery), its .index and .timeindex, the .txnindex, the
// leader-epoch-checkpoint, the offset checkpoints (recovery point, log start, cleaner, high
// watermarks) and meta.properties.
//
// Input: a selector byte, then the file's bytes. Selector % 7: 0 .log; 1 .index; 2 .timeindex;
// 3 .txnindex; 4 leader-epoch-checkpoint; 5 an offset checkpoint; 6 meta.properties. For the .log,
// bit 0x80 writes each batch's right CRC first.
//
// Properties: no crash, no out-of-bounds read; a recovered log holds only whole batches with good
// CRCs, contiguous from its start, and recovering it again changes nothing (same end offset, same
// bytes); an index that opens answers lookups inside its segment; checkpoint text that parses
// formats to text that parses the same.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz.h"
#include "gregor/base/clock.h"
#include "gregor/base/log.h"
#include "gregor/controller/metadata_store.h"
#include "gregor/storage/leader_epoch_cache.h"
#include "gregor/storage/log_manager.h"
#include "gregor/storage/offset_index.h"
#include "gregor/storage/partition_log.h"
#include "gregor/storage/time_index.h"
#include "gregor/storage/transaction_index.h"

namespace {

using namespace gregor;
namespace fs = std::filesystem;

// A directory of this process's own, emptied before each input and removed at exit.
struct owned_dir {
  fs::path path;
  ~owned_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

const fs::path& work_dir() {
  static const owned_dir dir = [] {
    gregor::log::setup("off");  // recovery logs what it cuts: one line per input
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("gregor-fuzz-storage-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return owned_dir{d};
  }();
  return dir.path;
}

fs::path fresh_file(const std::string& name, std::span<const uint8_t> bytes) {
  const fs::path& dir = work_dir();
  for (const auto& e : fs::directory_iterator(dir)) fs::remove_all(e.path());
  fs::path p = dir / name;
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  return p;
}

struct log_state {
  int64_t start = 0, end = 0;
  std::vector<uint8_t> bytes;
};

std::optional<log_state> recover(const fs::path& dir) {
  manual_clock clk;
  storage::log_config cfg;
  auto log = storage::partition_log::open(dir, topic_partition{"fuzz", partition_id(0)}, uuid{1, 2}, cfg, clk, {});
  if (!log) return std::nullopt;
  log_state s;
  s.start = (*log)->log_start_offset().value();
  s.end = (*log)->log_end_offset().value();
  FUZZ_CHECK(s.start <= s.end, "recovered log start %lld past its end %lld", (long long)s.start, (long long)s.end);
  offset at{s.start};
  while (at < offset(s.end)) {
    auto r = (*log)->read(at, 1 << 20, offset(s.end));
    FUZZ_CHECK(r.has_value(), "a recovered log does not read at %lld", (long long)at.value());
    FUZZ_CHECK(!r->data.empty(), "a recovered log reads nothing at %lld below its end %lld", (long long)at.value(),
               (long long)s.end);
    std::span<const uint8_t> rest(r->data.data(), r->data.size());
    while (!rest.empty()) {
      auto h = protocol::parse_batch_header(rest);
      FUZZ_CHECK(h && h->total_size() <= rest.size(), "a recovered log returns a partial batch");
      auto batch = rest.subspan(0, h->total_size());
      FUZZ_CHECK(protocol::batch_crc_ok(batch), "a recovered log returns a batch with a bad CRC");
      FUZZ_CHECK(h->last_offset() >= at.value(), "a recovered log goes backwards at %lld", (long long)at.value());
      s.bytes.insert(s.bytes.end(), batch.begin(), batch.end());
      at = offset(h->last_offset() + 1);
      rest = rest.subspan(batch.size());
    }
  }
  (void)(*log)->close();
  return s;
}

void segment_recovery(uint8_t selector, fuzz::input in) {
  std::vector<uint8_t> bytes(in.bytes.begin(), in.bytes.end());
  if (selector & 0x80) fuzz::fix_batch_crcs(bytes);
  const fs::path file = fresh_file("00000000000000000000.log", bytes);
  const fs::path dir = file.parent_path();
  auto first = recover(dir);
  if (!first) return;
  auto second = recover(dir);
  FUZZ_CHECK(second.has_value(), "a recovered log does not open again");
  FUZZ_CHECK(second->start == first->start && second->end == first->end && second->bytes == first->bytes,
             "recovering a recovered log changed it (end %lld -> %lld)", (long long)first->end, (long long)second->end);
}

void offset_index_file(fuzz::input in) {
  auto idx = storage::offset_index::open(fresh_file("00000000000000000000.index", in.bytes), 0, 1 << 20, 10 << 20);
  if (!idx) return;
  for (int64_t target : {int64_t(0), int64_t(1), int64_t(1000), INT64_MAX}) {
    auto e = idx->lookup(target);
    FUZZ_CHECK(e.offset <= std::max<int64_t>(target, 0) && e.position < (1u << 20),
               "offset index lookup(%lld) answered an entry past it", (long long)target);
  }
}

void time_index_file(fuzz::input in) {
  auto idx = storage::time_index::open(fresh_file("00000000000000000000.timeindex", in.bytes), 0, 10 << 20);
  if (!idx) return;
  for (int64_t ts : {int64_t(0), int64_t(1'700'000'000'000), INT64_MAX}) {
    if (auto e = idx->lookup_before(ts)) (void)e;
  }
}

void txn_index_file(fuzz::input in) {
  auto idx = storage::transaction_index::open(fresh_file("00000000000000000000.txnindex", in.bytes), 1 << 20);
  if (!idx) return;
  std::vector<storage::aborted_txn> out;
  (void)idx->collect(0, 1 << 20, out);
}

void leader_epoch_checkpoint(fuzz::input in) {
  auto entries = storage::leader_epoch_cache::parse(in.text());
  if (!entries) return;
  auto again = storage::leader_epoch_cache::parse(storage::leader_epoch_cache::to_text(*entries));
  FUZZ_CHECK(again && *again == *entries, "leader-epoch-checkpoint does not round-trip");
}

void offset_checkpoint(fuzz::input in) {
  auto entries = storage::parse_offset_checkpoint(in.text());
  if (!entries) return;
  auto again = storage::parse_offset_checkpoint(storage::format_offset_checkpoint(*entries));
  FUZZ_CHECK(again && *again == *entries, "offset checkpoint does not round-trip");
}

void meta_properties(fuzz::input in) {
  const fs::path file = fresh_file("meta.properties", in.bytes);
  (void)controller::read_meta_properties(file.parent_path());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::input in{{data, size}};
  const uint8_t selector = in.take_byte();
  switch ((selector & 0x7f) % 7) {
    case 0: segment_recovery(selector, in); break;
    case 1: offset_index_file(in); break;
    case 2: time_index_file(in); break;
    case 3: txn_index_file(in); break;
    case 4: leader_epoch_checkpoint(in); break;
    case 5: offset_checkpoint(in); break;
    case 6: meta_properties(in); break;
  }
  return 0;
}
