// Proves the admin client's pure parts: bootstrap address parsing, Kafka error naming, and that
// connection failures come back as one sentence naming the address.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "gregor/client/client.h"

using namespace gregor::client;

TEST(client_address, host_port_parses_names_ipv4_and_bracketed_ipv6) {
  std::string host;
  uint16_t port = 0;
  EXPECT_EQ(parse_host_port("localhost:9092", host, port), "");
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 9092);
  EXPECT_EQ(parse_host_port("[::1]:19092", host, port), "");
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 19092);
}

TEST(client_address, bad_addresses_are_refused_with_the_text) {
  std::string host;
  uint16_t port = 0;
  EXPECT_NE(parse_host_port("localhost", host, port).find("'localhost'"), std::string::npos);
  EXPECT_FALSE(parse_host_port("localhost:", host, port).empty());
  EXPECT_FALSE(parse_host_port(":9092", host, port).empty());
  EXPECT_FALSE(parse_host_port("h:99999", host, port).empty());
  EXPECT_FALSE(parse_host_port("h:0", host, port).empty());
  EXPECT_FALSE(parse_host_port("h:9x", host, port).empty());
}

TEST(client_errors, kafka_codes_are_named) {
  EXPECT_EQ(error_name(0), "NONE");
  EXPECT_EQ(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
  EXPECT_EQ(error_name(36), "TOPIC_ALREADY_EXISTS");
  EXPECT_EQ(error_name(9999), "UNKNOWN_ERROR_CODE_9999");
}

TEST(client_connect, refused_connection_is_one_sentence_naming_the_address) {
  client c(options{"t", 2000});
  auto r = c.connect("127.0.0.1:1");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("cannot connect to 127.0.0.1:1"), std::string::npos) << r.error();
  auto bad = c.connect("nonsense");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("not host:port"), std::string::npos);
}
