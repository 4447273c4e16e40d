#include "gregor/security/encoding.h"

#include <openssl/crypto.h>

#include <fmt/format.h>

#include "gregor/security/sasl.h"

namespace gregor::security {
bool constant_time_equal(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return constant_time_equal(std::span(reinterpret_cast<const uint8_t*>(a.data()), a.size()),
                             std::span(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

std::string sasl_generic_failure_message(std::string_view mechanism, bool reauthentication) {
  return fmt::format("Authentication failed during {} due to invalid credentials with SASL mechanism {}",
                     reauthentication ? "re-authentication" : "authentication", mechanism);
}

}  // namespace gregor::security
