// The Envelope's principal and address fields (envelope_codec.h), against the bytes Kafka's
// DefaultKafkaPrincipalBuilder and InetAddress.getAddress() produce.
#include <gtest/gtest.h>

#include "../../../src/server/envelope_codec.h"

namespace gregor::server {
namespace {

TEST(envelope_codec, the_principal_is_default_principal_data_v0_with_its_version_prefix) {
  const auto bytes = encode_principal_data("User:alice");
  // int16 version 0; compact strings "User", "alice"; TokenAuthenticated false; no tagged fields.
  const std::vector<uint8_t> expected = {0, 0, 5, 'U', 's', 'e', 'r', 6, 'a', 'l', 'i', 'c', 'e', 0, 0};
  EXPECT_EQ(bytes, expected);
  EXPECT_EQ(decode_principal_data(bytes), "User:alice");
  // A name with colons keeps them (only the first separates the type).
  EXPECT_EQ(decode_principal_data(encode_principal_data("User:CN=a:b")), "User:CN=a:b");
}

TEST(envelope_codec, a_principal_that_is_not_v0_data_is_refused) {
  auto bytes = encode_principal_data("User:alice");
  EXPECT_FALSE(decode_principal_data({}));
  auto v1 = bytes;
  v1[1] = 1;
  EXPECT_FALSE(decode_principal_data(v1)) << "an unknown version";
  auto cut = bytes;
  cut.pop_back();
  EXPECT_FALSE(decode_principal_data(cut)) << "truncated";
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(decode_principal_data(longer)) << "trailing bytes";
  const std::vector<uint8_t> empty_type = {0, 0, 1, 2, 'x', 0, 0};
  EXPECT_FALSE(decode_principal_data(empty_type));
}

TEST(envelope_codec, the_client_address_is_its_raw_bytes) {
  EXPECT_EQ(encode_host_address("10.0.0.7"), (std::vector<uint8_t>{10, 0, 0, 7}));
  EXPECT_EQ(decode_host_address(encode_host_address("10.0.0.7")), "10.0.0.7");
  const auto v6 = encode_host_address("::1");
  ASSERT_EQ(v6.size(), 16u);
  EXPECT_EQ(v6.back(), 1);
  EXPECT_EQ(decode_host_address(v6), "::1");
  EXPECT_TRUE(encode_host_address("not-an-address").empty());
  EXPECT_FALSE(decode_host_address(std::vector<uint8_t>{1, 2, 3}));
}

}  // namespace
}  // namespace gregor::server
