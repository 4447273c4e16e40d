#include "gregor/client/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "gregor/protocol/messages/api_versions.h"
#include "gregor/protocol/messages/find_coordinator.h"

namespace gregor::client {
namespace asio = boost::asio;
using asio::ip::tcp;

std::string parse_host_port(std::string_view text, std::string& host, uint16_t& port) {
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size())
    return fmt::format("'{}' is not host:port", text);
  std::string_view h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) return fmt::format("'{}' has no host", text);
  unsigned long p = 0;
  for (char c : text.substr(colon + 1)) {
    if (c < '0' || c > '9') return fmt::format("'{}' has a bad port", text);
    p = p * 10 + unsigned(c - '0');
    if (p > 65535) return fmt::format("'{}' has a bad port", text);
  }
  if (p == 0) return fmt::format("'{}' has a bad port", text);
  host = std::string(h);
  port = uint16_t(p);
  return {};
}

std::string error_name(int16_t code) {
  if (code == 0) return "NONE";
  std::string_view n = protocol::error_name(protocol::error_code(code));
  if (n == "UNKNOWN") return fmt::format("UNKNOWN_ERROR_CODE_{}", code);
  return std::string(n);
}

namespace {

// Runs the io_context until `done` or the timeout; cancels the socket on timeout.
template <class Start>
boost::system::error_code run_with_timeout(asio::io_context& io, tcp::socket& s, int32_t timeout_ms,
                                           Start start) {
  boost::system::error_code result = asio::error::would_block;
  start(result);
  io.restart();
  io.run_for(std::chrono::milliseconds(timeout_ms));
  if (result == asio::error::would_block) {
    boost::system::error_code ignored;
    s.close(ignored);
    io.restart();
    io.run();
    return asio::error::timed_out;
  }
  return result;
}

}  // namespace

result<void, std::string> connection::open(const std::string& host, uint16_t port) {
  _address = fmt::format("{}:{}", host, port);
  boost::system::error_code ec;
  tcp::resolver resolver(_io);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec) return failure{fmt::format("cannot resolve {}: {}", _address, ec.message())};
  ec = run_with_timeout(_io, _socket, _opts.timeout_ms, [&](boost::system::error_code& out) {
    asio::async_connect(_socket, endpoints,
                        [&out](const boost::system::error_code& e, const tcp::endpoint&) { out = e; });
  });
  if (ec) return failure{fmt::format("cannot connect to {}: {}", _address, ec.message())};
  _socket.set_option(tcp::no_delay(true), ec);

  // ApiVersions v3; a broker that does not know v3 answers with a v0 body and UNSUPPORTED_VERSION.
  protocol::api_versions_request req;
  req.client_software_name = "gregor-cli";
  req.client_software_version = "0.1.0";
  auto frame = roundtrip(protocol::encode_request(req, 3, ++_correlation_id, _opts.client_id),
                         req.api_key, 3);
  if (!frame) return failure{frame.error()};
  protocol::api_versions_response resp;
  {
    protocol::reader r(*frame);
    r.read_int32();  // correlation id (response header v0 for ApiVersions)
    resp.decode(r, 3);
    if (!r.ok() || resp.error_code == protocol::code_of(protocol::error_code::unsupported_version)) {
      protocol::reader r0(*frame);
      r0.read_int32();
      resp = {};
      resp.decode(r0, 0);
      if (!r0.ok()) return failure{bad_response(r0)};
    }
  }
  for (const auto& k : resp.api_keys) _versions[k.api_key] = {k.min_version, k.max_version};
  if (_versions.empty())
    return failure{fmt::format("{} answered ApiVersions with {} and no APIs", _address,
                               error_name(resp.error_code))};
  return ok;
}

result<int16_t, std::string> connection::version_for(int16_t api_key, int16_t our_min,
                                                     int16_t our_max) const {
  auto it = _versions.find(api_key);
  const protocol::api_info* info = protocol::find_api(api_key);
  std::string name = info ? std::string(info->name) : fmt::format("API {}", api_key);
  if (it == _versions.end())
    return failure{fmt::format("the broker at {} does not support {}", _address, name)};
  int16_t hi = std::min(our_max, it->second.second);
  int16_t lo = std::max(our_min, it->second.first);
  if (hi < lo)
    return failure{fmt::format("the broker at {} supports {} versions {}-{}, this client {}-{}",
                               _address, name, it->second.first, it->second.second, our_min, our_max)};
  return hi;
}

result<void, std::string> connection::write_frame(const std::vector<uint8_t>& body) {
  uint8_t size[4] = {uint8_t(body.size() >> 24), uint8_t(body.size() >> 16),
                     uint8_t(body.size() >> 8), uint8_t(body.size())};
  std::array<asio::const_buffer, 2> bufs{asio::buffer(size), asio::buffer(body)};
  auto ec = run_with_timeout(_io, _socket, _opts.timeout_ms, [&](boost::system::error_code& out) {
    asio::async_write(_socket, bufs, [&out](const boost::system::error_code& e, size_t) { out = e; });
  });
  if (ec) return failure{fmt::format("cannot send to {}: {}", _address, ec.message())};
  return ok;
}

result<std::span<const uint8_t>, std::string> connection::roundtrip(const std::vector<uint8_t>& body,
                                                                    int16_t api_key, int16_t version) {
  if (auto w = write_frame(body); !w) return failure{w.error()};
  uint8_t size[4];
  auto ec = run_with_timeout(_io, _socket, _opts.timeout_ms, [&](boost::system::error_code& out) {
    asio::async_read(_socket, asio::buffer(size), [&out](const boost::system::error_code& e, size_t) { out = e; });
  });
  if (ec)
    return failure{fmt::format("no response from {}: {}", _address,
                               ec == asio::error::eof ? "the broker closed the connection" : ec.message())};
  uint32_t n = uint32_t(size[0]) << 24 | uint32_t(size[1]) << 16 | uint32_t(size[2]) << 8 | size[3];
  if (n < 4 || n > (512u << 20)) return failure{fmt::format("{} sent a response of {} bytes", _address, n)};
  _frame.resize(n);
  ec = run_with_timeout(_io, _socket, _opts.timeout_ms, [&](boost::system::error_code& out) {
    asio::async_read(_socket, asio::buffer(_frame), [&out](const boost::system::error_code& e, size_t) { out = e; });
  });
  if (ec) return failure{fmt::format("response from {} cut short: {}", _address, ec.message())};
  int32_t cid = int32_t(uint32_t(_frame[0]) << 24 | uint32_t(_frame[1]) << 16 |
                        uint32_t(_frame[2]) << 8 | _frame[3]);
  if (cid != _correlation_id)
    return failure{fmt::format("{} answered correlation id {} to request {}", _address, cid,
                               _correlation_id)};
  return std::span<const uint8_t>(_frame);
}

bool connection::skip_response_header(protocol::reader& r, int16_t api_key, int16_t version) {
  r.read_int32();
  if (protocol::response_header_version(api_key, version) >= 1) {
    uint32_t n = r.read_unsigned_varint();
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
      r.read_unsigned_varint();
      r.read_raw(r.read_unsigned_varint());
    }
  }
  return r.ok();
}

std::string connection::bad_response(const protocol::reader& r) const {
  return fmt::format("malformed response from {}: {}", _address, r.error());
}

result<void, std::string> client::connect(const std::string& bootstrap) {
  std::string errors;
  size_t start = 0;
  while (start <= bootstrap.size()) {
    size_t comma = bootstrap.find(',', start);
    std::string item = bootstrap.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? bootstrap.size() + 1 : comma + 1;
    if (item.empty()) continue;
    std::string host;
    uint16_t port = 0;
    if (auto why = parse_host_port(item, host, port); !why.empty()) return failure{why};
    auto c = std::make_unique<connection>(_io, _opts);
    auto r = c->open(host, port);
    if (r) {
      _bootstrap = std::move(c);
      return ok;
    }
    if (!errors.empty()) errors += "; ";
    errors += r.error();
  }
  if (errors.empty()) return failure{std::string("no bootstrap server given")};
  return failure{errors};
}

result<protocol::metadata_response, std::string> client::metadata(
    const std::optional<std::vector<std::string>>& topics) {
  protocol::metadata_request req;
  req.allow_auto_topic_creation = false;
  if (topics) {
    req.topics.emplace();
    for (const auto& t : *topics) req.topics->emplace_back().name = t;
  }
  // v4+ has allow_auto_topic_creation; v1+ distinguishes "all topics" (null) from none.
  auto v = _bootstrap->version_for(req.api_key, 4, req.max_version);
  if (!v) return failure{v.error()};
  auto resp = _bootstrap->call<protocol::metadata_request, protocol::metadata_response>(req);
  if (!resp) return resp;
  _brokers.clear();
  for (const auto& b : resp->brokers) _brokers[b.node_id] = {b.host, uint16_t(b.port)};
  return resp;
}

result<connection*, std::string> client::broker(int32_t node_id) {
  if (auto it = _connections.find(node_id); it != _connections.end()) return it->second.get();
  if (_brokers.empty())
    if (auto m = metadata(std::vector<std::string>{}); !m) return failure{m.error()};
  auto b = _brokers.find(node_id);
  if (b == _brokers.end())
    return failure{fmt::format("broker {} is not in the cluster metadata", node_id)};
  auto c = std::make_unique<connection>(_io, _opts);
  if (auto r = c->open(b->second.first, b->second.second); !r)
    return failure{fmt::format("{} (broker {} as advertised; check advertised.listeners)", r.error(),
                               node_id)};
  return (_connections[node_id] = std::move(c)).get();
}

result<std::vector<connection*>, std::string> client::all_brokers() {
  if (auto m = metadata(std::vector<std::string>{}); !m) return failure{m.error()};
  std::vector<int32_t> ids;
  for (const auto& [id, _] : _brokers) ids.push_back(id);
  std::vector<connection*> out;
  for (int32_t id : ids) {
    auto c = broker(id);
    if (!c) return failure{c.error()};
    out.push_back(*c);
  }
  return out;
}

result<connection*, std::string> client::group_coordinator(const std::string& group) {
  protocol::find_coordinator_request req;
  req.key_type = 0;
  auto v = _bootstrap->version_for(req.api_key, req.min_version, req.max_version);
  if (!v) return failure{v.error()};
  if (*v >= 4) req.coordinator_keys.push_back(group);
  else req.key = group;
  auto resp = _bootstrap->call<protocol::find_coordinator_request, protocol::find_coordinator_response>(req);
  if (!resp) return failure{resp.error()};
  int16_t err = resp->error_code;
  int32_t node = resp->node_id;
  std::string host = resp->host;
  int32_t port = resp->port;
  if (*v >= 4) {
    if (resp->coordinators.empty())
      return failure{fmt::format("FindCoordinator for group '{}' returned no coordinator", group)};
    const auto& c = resp->coordinators.front();
    err = c.error_code;
    node = c.node_id;
    host = c.host;
    port = c.port;
  }
  if (err != 0)
    return failure{fmt::format("cannot find the coordinator of group '{}': {}", group, error_name(err))};
  if (auto it = _connections.find(node); it != _connections.end()) return it->second.get();
  _brokers[node] = {host, uint16_t(port)};
  return broker(node);
}

}  // namespace gregor::client
