// Proves the generated codecs agree byte for byte with real clients and with Apache Kafka: every
// request and response frame captured between kcat, librdkafka, kafka-python, the Java client and
// Kafka 4.3.1 (tests/unit/protocol/captured/, recorded with tests/tools/capture_proxy.py) decodes
// completely and re-encodes to exactly the captured bytes.
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "gregor/protocol/api.h"
#include "gregor/protocol/headers.h"
#include "gregor/protocol/messages/all.h"

namespace gregor::protocol {
namespace {

struct captured_pair {
  std::string label;
  int16_t key = 0;
  int16_t version = 0;
  std::vector<uint8_t> request;
  std::optional<std::vector<uint8_t>> response;
};

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = uint8_t(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

std::vector<captured_pair> load() {
  const char* src = std::getenv("GREGOR_TEST_SRC");
  std::string root = src ? src : ".";
  std::ifstream in(root + "/tests/unit/protocol/captured/kafka-4.3.1.txt");
  std::vector<captured_pair> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    captured_pair p;
    std::string req, resp;
    ls >> p.label >> p.key >> p.version >> req >> resp;
    p.request = from_hex(req);
    if (resp != "-") p.response = from_hex(resp);
    out.push_back(std::move(p));
  }
  return out;
}

// Decodes a request frame (header + body) and re-encodes it; returns "" or what differed.
template <class Req>
std::string request_round_trip(const captured_pair& p) {
  reader r(p.request);
  request_header h;
  if (!decode_request_header(r, h)) return "header: " + r.error();
  Req msg;
  msg.decode(r, p.version);
  if (!r.ok()) return "decode: " + r.error();
  if (r.remaining() != 0) return "decode left " + std::to_string(r.remaining()) + " bytes";
  std::vector<uint8_t> again = encode_request(msg, p.version, h.correlation_id, h.client_id);
  if (again != p.request) return "re-encoded request differs";
  return "";
}

template <class Resp>
std::string response_round_trip(const captured_pair& p, int16_t version) {
  reader r(*p.response);
  const int32_t correlation_id = r.read_int32();
  if (response_header_version(p.key, version) >= 1) {
    // Response header v1: tagged fields (clients and Kafka send none).
    if (r.read_unsigned_varint() != 0) return "response header carries tagged fields";
  }
  Resp msg;
  msg.decode(r, version);
  if (!r.ok()) return "decode: " + r.error();
  if (r.remaining() != 0) return "decode left " + std::to_string(r.remaining()) + " bytes";
  std::vector<uint8_t> again = encode_response(msg, version, correlation_id);
  if (again != *p.response) return "re-encoded response differs";
  return "";
}

template <class Req, class Resp>
std::string check(const captured_pair& p) {
  if (p.version < Req::min_version || p.version > Req::max_version) return "skip";
  std::string e = request_round_trip<Req>(p);
  if (!e.empty()) return "request " + e;
  if (!p.response) return "";
  int16_t version = p.version;
  // ApiVersions at a version the broker does not support is answered with a v0 body.
  if (p.key == api_versions_request::api_key && p.response->size() >= 6 &&
      (*p.response)[4] == 0 && (*p.response)[5] == 35)
    version = 0;
  e = response_round_trip<Resp>(p, version);
  return e.empty() ? "" : "response " + e;
}

// Every API the schemas define (messages/all.h), so a new capture is checked without a list here.
std::string check_any(const captured_pair& p) {
  std::string out = "skip";
  visit_api_types(p.key, [&]<class Req, class Resp>() { out = check<Req, Resp>(p); });
  return out;
}

TEST(captured, every_frame_from_real_clients_and_kafka_round_trips_byte_for_byte) {
  auto pairs = load();
  ASSERT_GT(pairs.size(), 100u) << "captured frames missing (GREGOR_TEST_SRC unset?)";
  std::map<std::pair<int16_t, int16_t>, int> checked;
  int failures = 0;
  for (const auto& p : pairs) {
    std::string e = check_any(p);
    if (e == "skip") continue;
    if (!e.empty()) {
      ADD_FAILURE() << p.label << " api " << p.key << " v" << p.version << ": " << e;
      if (++failures > 20) break;
      continue;
    }
    checked[{p.key, p.version}]++;
  }
  // The clients' main paths must all be covered: Produce, Fetch, ListOffsets, Metadata,
  // ApiVersions, CreateTopics, DescribeConfigs, group APIs, at the versions each client uses.
  for (auto kv : std::vector<std::pair<int16_t, int16_t>>{
           {0, 7}, {0, 13}, {1, 4}, {1, 11}, {1, 18}, {2, 1}, {2, 2}, {2, 11}, {3, 0}, {3, 1},
           {3, 4}, {3, 13}, {18, 0}, {18, 3}, {18, 4}, {19, 4}, {19, 7}, {32, 1}, {32, 4},
           {11, 2}, {11, 5}, {14, 3}, {8, 7}, {9, 7}, {60, 2},
           // the admin tools' and KIP-848 consumers' APIs (tests/tools/capture_admin_apis.py)
           {15, 3}, {15, 6}, {16, 1}, {16, 5}, {21, 2}, {23, 4}, {33, 1}, {42, 2}, {44, 1}, {47, 0},
           {61, 0}, {68, 1}, {69, 1}}) {
    EXPECT_GT(checked[kv], 0) << "no captured frame checked for api " << kv.first << " v" << kv.second;
  }
}

}  // namespace
}  // namespace gregor::protocol
