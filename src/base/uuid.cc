#include <random>

#include "gregor/base/types.h"

namespace gregor {
namespace {
constexpr char k_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
}

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
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += k_alphabet[(acc >> bits) & 0x3F];
    }
  }
  if (bits > 0) out += k_alphabet[(acc << (6 - bits)) & 0x3F];
  return out;
}

bool uuid::from_base64(std::string_view text, uuid& out) {
  if (text.size() != 22) return false;
  uint8_t bytes[16] = {};
  uint32_t acc = 0;
  int bits = 0, n = 0;
  for (char c : text) {
    const char* p = std::char_traits<char>::find(k_alphabet, 64, c);
    if (!p) return false;
    acc = (acc << 6) | uint32_t(p - k_alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n < 16) bytes[n++] = uint8_t(acc >> bits);
    }
  }
  out.hi = out.lo = 0;
  for (int i = 0; i < 8; ++i) out.hi = (out.hi << 8) | bytes[i];
  for (int i = 0; i < 8; ++i) out.lo = (out.lo << 8) | bytes[8 + i];
  return true;
}

}  // namespace gregor
