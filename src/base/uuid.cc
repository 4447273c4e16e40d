#include <random>

#include "gregor/base/base64.h"
#include "gregor/base/types.h"

namespace gregor {
uuid uuid::random() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uuid u;
  do {
    u.hi = rng();
    u.lo = rng();
    // Version 4, variant 1, as java.util.UUID.randomUUID() produces.
    u.hi = (u.hi & ~0xF000ULL) | 0x4000ULL;
    u.lo = (u.lo & ~(0xC000000000000000ULL)) | 0x8000000000000000ULL;
    // Kafka's Uuid.randomUuid() never hands out an id whose text holds a '-': such an id,
    // first character '-', reads as an option to the CLI tools (kafka-metadata-quorum.sh
    // remove-controller --controller-directory-id -xyz). Draw again, as Kafka does.
  } while (u.is_zero() || u.to_base64().find('-') != std::string::npos);
  return u;
}

std::string uuid::to_base64() const {
  uint8_t bytes[16];
  for (int i = 0; i < 8; ++i) bytes[i] = uint8_t(hi >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) bytes[8 + i] = uint8_t(lo >> (56 - 8 * i));
  return base64::encode_url(bytes);
}

bool uuid::from_base64(std::string_view text, uuid& out) {
  if (text.size() != 22) return false;
  auto bytes = base64::decode_url(text, /*canonical=*/false);
  if (!bytes || bytes->size() != 16) return false;
  out.hi = out.lo = 0;
  for (int i = 0; i < 8; ++i) out.hi = (out.hi << 8) | (*bytes)[size_t(i)];
  for (int i = 0; i < 8; ++i) out.lo = (out.lo << 8) | (*bytes)[size_t(8 + i)];
  return true;
}

}  // namespace gregor
