// fuzz_metadata: what a controller or broker reads back from the metadata log directory after a
// crash, and from a peer: metadata record values (ApiMessageAndVersion), whole batches of the
// __cluster_metadata log (data and control), snapshot files, the quorum-state file, and the
// single-node metadata journal's frames.
//
// Input: a selector byte, then the bytes. Selector & 7: 0 = one record value; 1 = back-to-back
// batches (a segment); 2 = a snapshot file; 3 = quorum-state JSON; 4 = a journal frame;
// 5 = a snapshot file name. Bit 0x80: write each batch's right CRC first (1 and 2).
//
// Properties: no crash or out-of-bounds read; a record value that decodes re-encodes to bytes that
// decode to the same bytes; a data batch that decodes re-encodes (same base, epoch, time,
// records) to a batch that decodes to the same records; a quorum-state file that parses
// re-encodes to one that parses equal.
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz.h"
#include "gregor/controller/metadata_batch.h"
#include "gregor/controller/metadata_records.h"
#include "gregor/protocol/metadata/all_records.h"
#include "gregor/protocol/wire.h"

namespace {

using namespace gregor;
namespace md = gregor::protocol::metadata;

void record_value(fuzz::input in) {
  std::string error;
  auto rec = md::decode_api_message_and_version(in.bytes, &error);
  if (!rec) return;
  const auto once = md::encode_api_message_and_version(rec->message, rec->version);
  auto again = md::decode_api_message_and_version(once, &error);
  FUZZ_CHECK(again.has_value(), "a re-encoded record value does not decode: %s", error.c_str());
  const auto twice = md::encode_api_message_and_version(again->message, again->version);
  FUZZ_CHECK(once == twice, "record value: decode(encode(r)) re-encodes differently");
}

std::vector<uint8_t> records_bytes(const controller::metadata_batch& b) {
  std::vector<uint8_t> out;
  for (const auto& r : b.records) {
    auto v = md::encode_api_message_and_version(r.message, r.version);
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

void batches(uint8_t selector, fuzz::input in) {
  std::vector<uint8_t> bytes(in.bytes.begin(), in.bytes.end());
  if (selector & 0x80) fuzz::fix_batch_crcs(bytes);
  auto decoded = controller::decode_batches(bytes);
  (void)controller::split_batches(bytes);
  if (!decoded) return;
  for (const auto& b : *decoded) {
    if (b.control || b.records.empty()) continue;
    auto again = controller::decode_batch(
        controller::encode_data_batch(b.base_offset, b.epoch, b.append_time_ms, b.records));
    FUZZ_CHECK(again.has_value(), "a re-encoded metadata batch does not decode: %s", again.error().c_str());
    FUZZ_CHECK(records_bytes(*again) == records_bytes(b), "a re-encoded metadata batch holds other records");
  }
}

void snapshot(uint8_t selector, fuzz::input in) {
  std::vector<uint8_t> bytes(in.bytes.begin(), in.bytes.end());
  if (selector & 0x80) fuzz::fix_batch_crcs(bytes);
  (void)controller::decode_snapshot(bytes);
}

void quorum_state(fuzz::input in) {
  auto q = controller::parse_quorum_state(in.text());
  if (!q) return;
  auto again = controller::parse_quorum_state(controller::encode_quorum_state(*q));
  FUZZ_CHECK(again.has_value() && *again == *q, "quorum-state does not round-trip");
}

void journal_frame(fuzz::input in) {
  auto f = controller::decode_frame(in.text());
  if (f.status != controller::decode_status::ok) return;
  FUZZ_CHECK(f.frame_bytes <= in.bytes.size(), "a frame consumed %zu of %zu bytes", f.frame_bytes, in.bytes.size());
  auto again = controller::decode_frame(controller::encode_frame(f.records));
  FUZZ_CHECK(again.status == controller::decode_status::ok && again.records.size() == f.records.size(),
             "a re-encoded journal frame does not decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::input in{{data, size}};
  const uint8_t selector = in.take_byte();
  switch (selector & 7) {
    case 0: record_value(in); break;
    case 1: batches(selector, in); break;
    case 2: snapshot(selector, in); break;
    case 3: quorum_state(in); break;
    case 4: journal_frame(in); break;
    case 5: {
      auto id = controller::parse_snapshot_file_name(in.text());
      if (id) FUZZ_CHECK(controller::parse_snapshot_file_name(controller::snapshot_file_name(*id)) == id,
                         "snapshot file name does not round-trip");
      break;
    }
    default: record_value(in); break;
  }
  return 0;
}
