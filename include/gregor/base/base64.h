#pragma once
// Base64 (RFC 4648), the one codec every module uses:
// - standard alphabet with padding (section 4): SCRAM's salts, proofs and signatures;
// - URL-safe alphabet without padding (section 5): Kafka's topic and directory ids (uuid), JWS
//   sections of OAUTHBEARER tokens.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gregor::base64 {

// Standard alphabet, '=' padding to a multiple of 4 characters.
std::string encode(std::span<const uint8_t> bytes);
// Strict: the standard alphabet, length a multiple of 4, '=' only as the final one or two
// characters, no whitespace. nullopt on anything else.
std::optional<std::vector<uint8_t>> decode(std::string_view text);

// URL-safe alphabet ('-' and '_'), no padding written.
std::string encode_url(std::span<const uint8_t> bytes);
std::string encode_url(std::string_view text);
// URL-safe alphabet; trailing '=' padding tolerated; with `canonical`, the unused low bits of the
// last character must be zero (JWS asks for it; Kafka's ids, read with Java's decoder, do not).
// nullopt on anything else.
std::optional<std::vector<uint8_t>> decode_url(std::string_view text, bool canonical = true);

}  // namespace gregor::base64
