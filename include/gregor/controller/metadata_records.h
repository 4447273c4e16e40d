#pragma once
// Metadata records: the entries of the cluster metadata log, and their binary encoding.
//
// On-disk format of a metadata log file (version 1; all integers big-endian):
//   file header : 8 bytes "GRGMETA" + u8 format version (1)
//   frame       : u32 length  (bytes after this field and the crc)
//                 u32 crc32c  (of the `length` bytes that follow)
//                 u8  frame version (1)
//                 u32 record count
//                 records: u8 type, u32 payload length, payload
// A frame is the unit of atomicity: one controller operation (create a topic with all its
// partitions and configs) is one frame, so a torn write loses the whole operation or nothing.
// Payload strings are u16 length + bytes; arrays u32 count + items; uuids two u64 (hi, lo).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gregor/base/types.h"

namespace gregor::controller {

struct topic_record {
  std::string name;
  uuid topic_id;
  bool internal = false;
};
struct partition_record {
  uuid topic_id;
  partition_id partition;
  node_id leader = no_node;
  ::gregor::leader_epoch leader_epoch{0};
  std::vector<node_id> replicas;
  std::vector<node_id> isr;
};
// A leader or ISR change of an existing partition (replication will emit these).
struct partition_change_record {
  uuid topic_id;
  partition_id partition;
  node_id leader = no_node;
  ::gregor::leader_epoch leader_epoch{0};
  std::vector<node_id> isr;
};
struct remove_topic_record {
  uuid topic_id;
};
// A topic config override set (value) or removed (nullopt).
struct config_record {
  uuid topic_id;
  std::string name;
  std::optional<std::string> value;
};
struct broker_record {
  node_id id;
  std::string host;
  int32_t port = 0;
  std::optional<std::string> rack;
};

// A block of producer ids handed to a broker (Kafka's ProducerIdsRecord): every id below
// next_producer_id has been given out, so ids are never reused, even across restarts.
struct producer_ids_record {
  node_id broker;
  int64_t next_producer_id = 0;
};

// A dynamic broker config (Kafka's ConfigRecord with resource type BROKER) set (value) or removed
// (nullopt). resource is "" for the cluster-wide default or the broker id in decimal.
struct broker_config_record {
  std::string resource;
  std::string name;
  std::optional<std::string> value;
};

using metadata_record = std::variant<topic_record, partition_record, partition_change_record,
                                     remove_topic_record, config_record, broker_record,
                                     producer_ids_record, broker_config_record>;

inline constexpr std::string_view metadata_file_magic = "GRGMETA";
inline constexpr uint8_t metadata_file_version = 1;
inline constexpr uint8_t metadata_frame_version = 1;
inline constexpr size_t metadata_file_header_bytes = 8;
inline constexpr size_t metadata_frame_header_bytes = 8;  // length + crc
// No single controller operation may exceed this; a larger length on disk is a torn/corrupt tail.
inline constexpr uint32_t metadata_frame_bytes_max = 64 * 1024 * 1024;

// Encodes records as one frame (header included).
std::string encode_frame(const std::vector<metadata_record>& records);

enum class decode_status { ok, incomplete, corrupt };
struct decoded_frame {
  decode_status status = decode_status::incomplete;
  size_t frame_bytes = 0;  // bytes consumed when ok
  std::vector<metadata_record> records;
  std::string why;  // for incomplete/corrupt
};
// Decodes the frame at the start of `bytes`. Never trusts a length: every count is checked against
// the bytes left before anything is allocated.
decoded_frame decode_frame(std::string_view bytes);

}  // namespace gregor::controller
