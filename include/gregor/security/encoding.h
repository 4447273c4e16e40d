#pragma once
// Byte helpers shared by the SASL mechanisms: standard base64 (RFC 4648 section 4, with padding,
// as SCRAM carries salts, proofs and signatures) and a constant-time comparison for secrets.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gregor::security {

std::string base64_encode(std::span<const uint8_t> bytes);
// Strict decoder: the standard alphabet, length a multiple of 4, '=' only as the final one or two
// characters, no whitespace. nullopt on anything else.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);

// True when a and b hold the same bytes. The time taken depends on the lengths only, never on
// where the first difference lies (proofs, stored keys and passwords are compared with this).
bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace gregor::security
