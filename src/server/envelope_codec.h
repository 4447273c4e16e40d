#pragma once
// The two fields of an Envelope (KIP-590) that are not a Kafka message of their own:
//   - RequestPrincipal: Kafka's DefaultPrincipalData (Type, Name, TokenAuthenticated; flexible),
//     prefixed with its int16 version (0), as DefaultKafkaPrincipalBuilder serializes it;
//   - ClientHostAddress: the client's IP address, 4 or 16 raw bytes.
// Written by the forwarding client (cluster_controller_client.cc), read by the controller's
// Envelope handler (handlers/envelope.cc).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "gregor/protocol/wire.h"

namespace gregor::server {

// "User:alice" -> DefaultPrincipalData v0 {Type "User", Name "alice", TokenAuthenticated false}.
inline std::vector<uint8_t> encode_principal_data(std::string_view principal) {
  const auto colon = principal.find(':');
  const std::string_view type = colon == std::string_view::npos ? std::string_view("User") : principal.substr(0, colon);
  const std::string_view name = colon == std::string_view::npos ? principal : principal.substr(colon + 1);
  std::vector<uint8_t> out;
  protocol::writer w(out);
  w.write_int16(0);
  w.write_string(type, true);
  w.write_string(name, true);
  w.write_bool(false);
  w.write_unsigned_varint(0);  // no tagged fields
  return out;
}

// "Type:Name", or nullopt when the bytes are not DefaultPrincipalData v0.
inline std::optional<std::string> decode_principal_data(std::span<const uint8_t> bytes) {
  protocol::reader r(bytes);
  if (r.read_int16() != 0) return std::nullopt;
  std::string type = r.read_string(true);
  std::string name = r.read_string(true);
  r.read_bool();
  r.skip_tagged_fields();
  if (!r.ok() || r.remaining() != 0 || type.empty()) return std::nullopt;
  return type + ":" + name;
}

// "10.0.0.7" -> 4 bytes, "::1" -> 16; empty for what is not an address.
inline std::vector<uint8_t> encode_host_address(const std::string& host) {
  boost::system::error_code ec;
  const auto a = boost::asio::ip::make_address(host, ec);
  if (ec) return {};
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  const auto b = a.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

inline std::optional<std::string> decode_host_address(std::span<const uint8_t> bytes) {
  if (bytes.size() == 4) {
    boost::asio::ip::address_v4::bytes_type b;
    std::copy(bytes.begin(), bytes.end(), b.begin());
    return boost::asio::ip::address_v4(b).to_string();
  }
  if (bytes.size() == 16) {
    boost::asio::ip::address_v6::bytes_type b;
    std::copy(bytes.begin(), bytes.end(), b.begin());
    return boost::asio::ip::address_v6(b).to_string();
  }
  return std::nullopt;
}

}  // namespace gregor::server
