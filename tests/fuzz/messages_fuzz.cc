// fuzz_request and fuzz_response: every API's request (header and body) and response body at
// every version the schemas define, through the generated decoders.
//
// Input (fuzz_request): a request frame as on the wire, without the 4-byte size: api key, version,
// correlation id, client id, (tagged fields), body. A key no schema defines or a version outside
// the API's range is mapped onto one that is (key index and version modulo the table), so every
// mutation lands on a decoder. Input (fuzz_response): api key, version (mapped the same way), then
// the response body without its header (what a broker reads from a peer: Fetch from the leader,
// Vote, BrokerHeartbeat...).
//
// Properties: decoding never reads outside the input or allocates more than the input can
// describe (the sanitizers and libFuzzer's -rss_limit_mb see it); a message that decodes
// re-encodes to bytes that decode again to the same bytes, and encoded_size() matches what
// encode() wrote.
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz.h"
#include "gregor/protocol/api.h"
#include "gregor/protocol/headers.h"
#include "gregor/protocol/messages/all.h"
#include "gregor/protocol/wire.h"

namespace {

using namespace gregor::protocol;

// Maps (key, version) from the input onto a defined API and one of its versions.
void pick_api(int16_t& key, int16_t& version) {
  auto apis = all_apis();
  const api_info* api = find_api(key);
  if (!api) {
    api = &apis[size_t(uint16_t(key)) % apis.size()];
    key = api->key;
  }
  if (version < api->min_version || version > api->max_version)
    version = int16_t(api->min_version + uint16_t(version) % (api->max_version - api->min_version + 1));
}

int16_t be16(const uint8_t* p) { return int16_t(uint16_t(p[0]) << 8 | p[1]); }
void put_be16(uint8_t* p, int16_t v) {
  p[0] = uint8_t(uint16_t(v) >> 8);
  p[1] = uint8_t(v);
}

template <class Msg>
std::vector<uint8_t> body_of(const Msg& m, int16_t version) {
  std::vector<uint8_t> out;
  writer w(out);
  m.encode(w, version);
  FUZZ_CHECK(out.size() == m.encoded_size(version), "api %d v%d: encoded_size %zu, encode wrote %zu",
             int(Msg::api_key), int(version), m.encoded_size(version), out.size());
  return out;
}

// Decodes `bytes` as a Msg body; on success checks the re-encode property.
template <class Msg>
void body_round_trip(reader& r, int16_t version) {
  Msg m;
  m.decode(r, version);
  if (!r.ok()) return;
  const std::vector<uint8_t> once = body_of(m, version);
  reader again(once);
  Msg m2;
  m2.decode(again, version);
  FUZZ_CHECK(again.ok(), "api %d v%d: re-encoded body does not decode: %s", int(Msg::api_key), int(version),
             again.error().c_str());
  FUZZ_CHECK(again.remaining() == 0, "api %d v%d: re-encoded body decodes with %zu bytes left", int(Msg::api_key),
             int(version), again.remaining());
  const std::vector<uint8_t> twice = body_of(m2, version);
  FUZZ_CHECK(once == twice, "api %d v%d: decode(encode(m)) re-encodes differently (%zu vs %zu bytes)",
             int(Msg::api_key), int(version), once.size(), twice.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  std::vector<uint8_t> frame(data, data + size);
  int16_t key = be16(frame.data());
  int16_t version = be16(frame.data() + 2);
  pick_api(key, version);
  put_be16(frame.data(), key);
  put_be16(frame.data() + 2, version);
#ifdef GREGOR_FUZZ_RESPONSE
  reader r(std::span<const uint8_t>(frame).subspan(4));
  visit_api_types(key, [&]<class Req, class Resp>() { body_round_trip<Resp>(r, version); });
#else
  reader r(frame);
  request_header h;
  if (!decode_request_header(r, h)) return 0;
  FUZZ_CHECK(h.api_key == key && h.api_version == version, "header decoded as api %d v%d, frame says %d v%d",
             int(h.api_key), int(h.api_version), int(key), int(version));
  visit_api_types(key, [&]<class Req, class Resp>() { body_round_trip<Req>(r, version); });
#endif
  return 0;
}
