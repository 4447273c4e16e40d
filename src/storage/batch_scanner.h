#pragma once
// batch_scanner (internal): walks the v2 batches of a segment file from a position, reading in
// chunks. Header mode reads only the 61-byte headers; whole mode also exposes each batch's bytes
// and can verify its CRC. Never trusts a length from disk: every batch must fit before `end`.
#include <span>
#include <string>
#include <vector>

#include "gregor/storage/file.h"
#include "gregor/storage/segment.h"

namespace gregor::storage::detail {

enum class scan_status { batch, end, torn, corrupt };

class batch_scanner {
 public:
  batch_scanner(const file& f, uint64_t position, uint64_t end, bool whole, bool verify_crc)
      : _file(f), _pos(position), _end(end), _whole(whole), _verify(verify_crc) {}

  // On `batch`, fills out (and bytes in whole mode, valid until the next call) and advances.
  // On torn/corrupt, reason() says why and position() stays at the bad batch.
  result<scan_status, storage_error> next(batch_location& out, std::span<const uint8_t>* bytes);
  uint64_t position() const { return _pos; }
  const std::string& reason() const { return _reason; }

 private:
  result<bool, storage_error> ensure(uint64_t pos, size_t len);

  const file& _file;
  uint64_t _pos;
  uint64_t _end;
  bool _whole;
  bool _verify;
  std::string _reason;
  std::vector<uint8_t> _buf;
  uint64_t _buf_pos = 0;
};

}  // namespace gregor::storage::detail
