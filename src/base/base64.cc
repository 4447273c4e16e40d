#include "gregor/base/base64.h"

namespace gregor::base64 {
namespace {
constexpr char standard_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The 6-bit value of c in the alphabet whose last two characters are c62 and c63; -1 if none.
int value_of(char c, char c62, char c63) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == c62) return 62;
  if (c == c63) return 63;
  return -1;
}

std::string encode_with(std::span<const uint8_t> bytes, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  uint32_t acc = 0;
  int bits = 0;
  for (uint8_t b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(alphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 63]);
  if (pad)
    while (out.size() % 4 != 0) out.push_back('=');
  return out;
}

// Decodes unpadded text; with `canonical`, the leftover bits of the last character must be zero.
std::optional<std::vector<uint8_t>> decode_with(std::string_view text, char c62, char c63, bool canonical) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value_of(c, c62, c63);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(uint8_t((acc >> bits) & 0xff));
    }
  }
  if (canonical && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}
}  // namespace

std::string encode(std::span<const uint8_t> bytes) { return encode_with(bytes, standard_alphabet, true); }

std::optional<std::vector<uint8_t>> decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  text.remove_suffix(pad);
  // A third '=' or one inside the text is refused by the alphabet check.
  return decode_with(text, '+', '/', /*canonical=*/false);
}

std::string encode_url(std::span<const uint8_t> bytes) { return encode_with(bytes, url_alphabet, false); }

std::string encode_url(std::string_view text) {
  return encode_url(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
}

std::optional<std::vector<uint8_t>> decode_url(std::string_view text, bool canonical) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  return decode_with(text, '-', '_', canonical);
}

}  // namespace gregor::base64
