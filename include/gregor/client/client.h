#pragma once
// client: a small blocking Kafka client for the admin CLI. Speaks the Kafka protocol with the
// generated message structs over plain blocking Asio sockets, so it works against Gregor and any
// Kafka-compatible broker. Not for the broker's own use (it blocks).
//
// connection: one TCP connection to one broker. On open it sends ApiVersions and remembers the
// broker's ranges; call() picks the highest version both sides know (capped by the caller).
// client: a bootstrap connection plus lazily opened connections to other brokers, located through
// Metadata (leaders) and FindCoordinator (groups).
//
// Errors are one sentence for a human; Kafka error codes are named ("UNKNOWN_TOPIC_OR_PARTITION").
// Views inside a response (Fetch records) stay valid until the next call on that connection.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "gregor/base/result.h"
#include "gregor/protocol/api.h"
#include "gregor/protocol/error_code.h"
#include "gregor/protocol/messages/metadata.h"

namespace gregor::client {

struct options {
  std::string client_id = "gregor-cli";
  int32_t timeout_ms = 30000;  // connect and per-request
};

// "host:port" → host, port; IPv6 as "[::1]:9092". Empty string on success, else the reason.
std::string parse_host_port(std::string_view text, std::string& host, uint16_t& port);

// "UNKNOWN_TOPIC_OR_PARTITION" for a code, "NONE" for 0.
std::string error_name(int16_t code);

class connection {
 public:
  connection(boost::asio::io_context& io, options opts) : _io(io), _socket(io), _opts(std::move(opts)) {}
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Connects and negotiates versions (ApiVersions). The error names the address.
  result<void, std::string> open(const std::string& host, uint16_t port);
  const std::string& address() const { return _address; }

  // Highest version of `api_key` both we (up to `our_max`) and the broker support, or an error
  // naming the API if the ranges do not meet.
  result<int16_t, std::string> version_for(int16_t api_key, int16_t our_min, int16_t our_max) const;

  // Sends one request and waits for its response. version < 0 = negotiate with Req's range.
  template <class Req, class Resp>
  result<Resp, std::string> call(const Req& req, int16_t max_version = -1) {
    auto v = version_for(Req::api_key, Req::min_version,
                         max_version < 0 ? Req::max_version : std::min<int16_t>(max_version, Req::max_version));
    if (!v) return failure{v.error()};
    auto frame = roundtrip(protocol::encode_request(req, *v, ++_correlation_id, _opts.client_id),
                           Req::api_key, *v);
    if (!frame) return failure{frame.error()};
    Resp resp;
    protocol::reader r(*frame);
    if (!skip_response_header(r, Req::api_key, *v)) return failure{bad_response(r)};
    resp.decode(r, *v);
    if (!r.ok()) return failure{bad_response(r)};
    return resp;
  }
  // Sends a request whose response is never sent (Produce acks=0).
  template <class Req>
  result<void, std::string> send_only(const Req& req, int16_t max_version = -1) {
    auto v = version_for(Req::api_key, Req::min_version,
                         max_version < 0 ? Req::max_version : std::min<int16_t>(max_version, Req::max_version));
    if (!v) return failure{v.error()};
    return write_frame(protocol::encode_request(req, *v, ++_correlation_id, _opts.client_id));
  }

 private:
  result<void, std::string> write_frame(const std::vector<uint8_t>& body);
  result<std::span<const uint8_t>, std::string> roundtrip(const std::vector<uint8_t>& body,
                                                          int16_t api_key, int16_t version);
  bool skip_response_header(protocol::reader& r, int16_t api_key, int16_t version);
  std::string bad_response(const protocol::reader& r) const;

  boost::asio::io_context& _io;
  boost::asio::ip::tcp::socket _socket;
  options _opts;
  std::string _address;
  int32_t _correlation_id = 0;
  std::map<int16_t, std::pair<int16_t, int16_t>> _versions;  // api key → broker's [min, max]
  std::vector<uint8_t> _frame;                              // last response (views point here)
};

class client {
 public:
  explicit client(options opts = {}) : _opts(std::move(opts)) {}

  // Tries each "host:port" of the comma-separated list until one answers.
  result<void, std::string> connect(const std::string& bootstrap);
  connection& bootstrap() { return *_bootstrap; }

  // Metadata for the named topics (nullopt = all topics), never auto-creating.
  result<protocol::metadata_response, std::string> metadata(
      const std::optional<std::vector<std::string>>& topics);
  // A connection to the broker with this node id (from the latest metadata).
  result<connection*, std::string> broker(int32_t node_id);
  // A connection to the coordinator of a consumer group (FindCoordinator).
  result<connection*, std::string> group_coordinator(const std::string& group);
  // Every broker from the latest metadata (opening connections as needed).
  result<std::vector<connection*>, std::string> all_brokers();

 private:
  options _opts;
  boost::asio::io_context _io;
  std::unique_ptr<connection> _bootstrap;
  std::map<int32_t, std::pair<std::string, uint16_t>> _brokers;  // from metadata
  std::map<int32_t, std::unique_ptr<connection>> _connections;
};

}  // namespace gregor::client
