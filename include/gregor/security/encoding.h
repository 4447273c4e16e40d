#pragma once
// Byte helpers shared by the SASL mechanisms: a constant-time comparison for secrets (base64 is
// gregor/base/base64.h).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gregor::security {

// True when a and b hold the same bytes. The time taken depends on the lengths only, never on
// where the first difference lies (proofs, stored keys and passwords are compared with this).
bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b);
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace gregor::security
