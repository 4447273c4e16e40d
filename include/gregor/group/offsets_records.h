#pragma once
// Record layouts of the internal topic __consumer_offsets, Kafka's own (so Kafka tools reading the
// topic understand us). Keys and values are big-endian, non-flexible:
//   offset commit key   (version 1): i16 version | string group | string topic | i32 partition
//   offset commit value (version 3): i16 version | i64 offset | i32 leader_epoch | string metadata |
//                                    i64 commit_timestamp
//   group metadata key  (version 2): i16 version | string group
//   group metadata value (version 3): i16 version | string protocol_type | i32 generation |
//       nullable string protocol | nullable string leader | i64 current_state_timestamp |
//       i32 count, per member: string member_id | nullable string group_instance_id |
//       string client_id | string client_host | i32 rebalance_timeout | i32 session_timeout |
//       bytes subscription | bytes assignment
// KIP-848 consumer groups (key version = record type 3..8, see consumer_group.h's cg_record):
//   key: i16 type | string group [| string member for types 5, 7, 8]
//   value: i16 version 0, then Kafka's flexible encoding (compact strings/arrays, uuids, empty
//   tagged-field sections); assignments name topics by id.
// A null value is a tombstone (offset deleted / group deleted). Decoding never trusts the input:
// malformed bytes give nullopt. Pure functions; called by the server's group_service.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gregor/group/consumer_group.h"
#include "gregor/group/group_coordinator.h"

namespace gregor::group {

struct offset_key {
  std::string group;
  topic_partition tp;
};
struct group_key {
  std::string group;
};
struct cg_key {
  cg_record::kind type = cg_record::kind::group_metadata;
  std::string group;
  std::string member;  // types 5, 7, 8
};
using record_key = std::variant<offset_key, group_key, cg_key>;
using topic_id_lookup = std::function<std::optional<uuid>(const std::string&)>;
using topic_name_lookup = std::function<std::optional<std::string>(const uuid&)>;

std::vector<uint8_t> encode_offset_key(const std::string& group, const topic_partition& tp);
std::vector<uint8_t> encode_offset_value(const committed_offset& o);
std::vector<uint8_t> encode_group_key(const std::string& group);
std::vector<uint8_t> encode_group_value(const group_snapshot& s);

std::optional<record_key> decode_key(std::string_view bytes);
// Accepts value versions 0-3 (v0/v2 without leader epoch, v1 with an expire timestamp).
std::optional<committed_offset> decode_offset_value(std::string_view bytes);
// Accepts value versions 0-3.
std::optional<group_snapshot> decode_group_value(std::string_view bytes);

std::vector<uint8_t> encode_cg_key(const cg_record& r);
// nullopt for a tombstone. Topics without an id (deleted) are left out of assignments.
std::optional<std::vector<uint8_t>> encode_cg_value(const cg_record& r, const topic_id_lookup& ids);
// `value` null = tombstone. Topic ids that no longer name a topic are dropped.
std::optional<cg_record> decode_cg_record(const cg_key& key, std::optional<std::string_view> value,
                                          const topic_name_lookup& names);

}  // namespace gregor::group
