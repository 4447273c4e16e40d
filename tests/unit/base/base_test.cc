// Proves the base vocabulary: strong ids compare and hash by value, results carry values or
// errors, and topic ids round-trip through Kafka's base64 text form.
#include <unordered_set>

#include <gtest/gtest.h>

#include "gregor/base/result.h"
#include "gregor/base/base64.h"
#include "gregor/base/types.h"

namespace gregor {

TEST(strong_int, compares_and_hashes_by_value) {
  offset a{5}, b{7};
  EXPECT_LT(a, b);
  EXPECT_EQ(b - a, 2);
  EXPECT_EQ(a + 2, b);
  std::unordered_set<offset> s{a, b, offset{5}};
  EXPECT_EQ(s.size(), 2u);
}

TEST(result, holds_value_or_error) {
  result<int, std::string> good = 3;
  result<int, std::string> bad = failure{std::string("nope")};
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, 3);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), "nope");
  result<void, int> v = ok;
  EXPECT_TRUE(v);
  result<void, int> e = failure{4};
  EXPECT_EQ(e.error(), 4);
}

TEST(uuid, base64_round_trip_matches_kafka_form) {
  for (int i = 0; i < 100; ++i) {
    uuid u = uuid::random();
    std::string text = u.to_base64();
    ASSERT_EQ(text.size(), 22u);
    uuid back;
    ASSERT_TRUE(uuid::from_base64(text, back));
    EXPECT_EQ(u, back);
  }
  uuid zero;
  EXPECT_EQ(zero.to_base64(), "AAAAAAAAAAAAAAAAAAAAAA");
  uuid out;
  EXPECT_FALSE(uuid::from_base64("short", out));
  EXPECT_FALSE(uuid::from_base64("AAAAAAAAAAAAAAAAAAAA*A", out));
}

TEST(uuid, random_ids_never_hold_a_dash_as_kafka_draws_them) {
  // One id in three holds a '-' when drawn plainly (22 characters, 1/64 each); a thousand
  // draws without one cannot happen by chance.
  for (int i = 0; i < 1000; ++i) {
    std::string text = uuid::random().to_base64();
    ASSERT_EQ(text.find('-'), std::string::npos) << text;
  }
}

TEST(base64, rfc4648_test_vectors_both_alphabets) {
  const std::pair<std::string, std::string> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(plain.data()), plain.size());
    EXPECT_EQ(base64::encode(bytes), coded);
    auto back = base64::decode(coded);
    ASSERT_TRUE(back) << coded;
    EXPECT_EQ(std::string(back->begin(), back->end()), plain);
    std::string unpadded = coded.substr(0, coded.find('='));
    EXPECT_EQ(base64::encode_url(bytes), unpadded);
    auto url = base64::decode_url(unpadded);
    ASSERT_TRUE(url) << unpadded;
    EXPECT_EQ(std::string(url->begin(), url->end()), plain);
    EXPECT_TRUE(base64::decode_url(coded));  // padding tolerated
  }
  const uint8_t high[] = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(base64::encode(high), "+/+/");
  EXPECT_EQ(base64::encode_url(high), "-_-_");
}

TEST(base64, decoders_refuse_what_is_not_base64) {
  for (const char* bad : {"Zg", "Zg=", "Zg===", "Z===", "Zm9v\n", "Zm 9", "Zm=v", "-_-_", "Zg==Zg=="})
    EXPECT_FALSE(base64::decode(bad)) << bad;
  for (const char* bad : {"Z", "+/+/", "Zm9v!", "Zh"})  // "Zh": non-zero unused bits
    EXPECT_FALSE(base64::decode_url(bad)) << bad;
  EXPECT_TRUE(base64::decode_url("Zh", /*canonical=*/false));
}

}  // namespace gregor
