#pragma once
// Routes: how a decoded request reaches its handler. Each handler file under handlers/ defines one
// route with its version range (the only place that range is written) and a typed handler
// function; make_route glues decoding, the call and encoding around it.
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "gregor/net/tcp_server.h"
#include "gregor/protocol/api.h"
#include "gregor/protocol/headers.h"
#include "gregor/protocol/wire.h"
#include "core.h"
#include "io_time_meter.h"
#include "session.h"

namespace gregor::server {

struct request_context {
  const net::connection_info& conn;
  const protocol::request_header& header;
  int16_t version() const { return header.api_version; }
  // Memory that response fields view (Fetch records): kept alive until the response is encoded.
  std::vector<byte_buffer> owned_buffers;
  // Non-zero error codes of the response, every level (invoke_route fills it; the dispatcher
  // counts them per API in /metrics).
  std::vector<int16_t> error_codes = {};
  // The connection's security state (never null when called by the dispatcher).
  std::shared_ptr<client_session> session = nullptr;
  // Set by the SASL handlers: the response is the last one (authentication failed; the connection
  // closes after it is written), or the connection has just authenticated.
  bool close_after_response = false;
  bool authenticated_now = false;
  // The broker's authorizer (never null when called by the dispatcher).
  class authorizer* authz = nullptr;
  // The request's size on the wire (header and body), what Kafka's produce quota records.
  size_t request_bytes = 0;
  // Client quotas: the throttle time the handler put in the response; the connection is muted for
  // it (KIP-219). Set through throttle_for (handlers/client_quota.h).
  int64_t throttle_ms = 0;
  // request_percentage (KIP-124): the dispatcher sets meter_request_time when a request quota is
  // set and the API is not a cluster action; a handler sets quota_exempt for a request Kafka
  // exempts by its content (a follower's Fetch).
  bool meter_request_time = false;
  bool quota_exempt = false;
  // Kept until the response is written (net::frame_outcome::lease): Fetch's share of the
  // broker-wide fetch_memory account for its records, and the shared buffers (readahead,
  // tail cache) that records not in owned_buffers view.
  std::shared_ptr<const void> memory_lease = nullptr;
};

using route_fn = boost::asio::awaitable<net::frame_outcome> (*)(core&, request_context&,
                                                                 protocol::reader&);

// A handler: returns the response, or nullopt for "no response" (acks=0 Produce).
template <class Req, class Resp>
using handler_fn = boost::asio::awaitable<std::optional<Resp>> (*)(core&, request_context&, Req&);

struct api_route {
  int16_t key = -1;
  std::string_view name;
  int16_t min_version = 0;
  int16_t max_version = -1;
  route_fn invoke = nullptr;
};

// Records a request's io-thread time against its request_percentage quota (dispatcher.cc); the
// throttle time in milliseconds, also in ctx.throttle_ms (0 within the quota).
int32_t record_request_time(core& c, request_context& ctx, int64_t nanos);

// Runs the handler; with meter_request_time, on a metered executor (io_time_meter.h), then records
// its time and puts the throttle into the response's throttle_time_ms (the larger of it and a
// byte-rate throttle the handler set, as Kafka's Produce and Fetch answer).
template <class Req, class Resp>
boost::asio::awaitable<std::optional<Resp>> run_handler(core& c, request_context& ctx, Req& req,
                                                        handler_fn<Req, Resp> fn) {
  if (!ctx.meter_request_time) co_return co_await fn(c, ctx, req);
  auto meter = std::make_shared<io_time_meter>();
  auto ex = co_await boost::asio::this_coro::executor;
  std::optional<Resp> resp = co_await boost::asio::co_spawn(
      metered_executor<decltype(ex)>(ex, meter), metered(fn(c, ctx, req), meter), boost::asio::use_awaitable);
  if (ctx.quota_exempt) co_return resp;
  const int32_t throttle_ms = record_request_time(c, ctx, meter->nanos());
  if constexpr (requires(Resp& r) { r.throttle_time_ms = int32_t(0); }) {
    if (resp && throttle_ms > resp->throttle_time_ms) resp->throttle_time_ms = throttle_ms;
  }
  co_return resp;
}

inline net::frame_outcome close_connection(std::string why) {
  net::frame_outcome o;
  o.what = net::frame_outcome::kind::close;
  o.close_reason = std::move(why);
  return o;
}

// Response byte fields at least this large are sent from the handler's own buffers, not copied.
inline constexpr size_t response_splice_min_bytes = 4096;

template <class Req, class Resp, handler_fn<Req, Resp> Fn>
boost::asio::awaitable<net::frame_outcome> invoke_route(core& c, request_context& ctx,
                                                        protocol::reader& r) {
  Req req;
  req.decode(r, ctx.version());
  if (!r.ok())
    co_return close_connection(fmt::format("malformed request (api key {} v{}): {}",
                                           Req::api_key, ctx.version(), r.error()));
  std::optional<Resp> resp = co_await run_handler<Req, Resp>(c, ctx, req, Fn);
  net::frame_outcome out;
  out.throttle_ms = ctx.throttle_ms;
  if (!resp) {
    out.what = net::frame_outcome::kind::no_response;
    co_return out;
  }
  resp->for_each_error_code(ctx.version(), [&ctx](int16_t code) {
    if (code != 0) ctx.error_codes.push_back(code);
  });
  if (ctx.owned_buffers.empty() && !ctx.memory_lease) {
    out.response = protocol::encode_response(*resp, ctx.version(), ctx.header.correlation_id);
    co_return out;
  }
  // The response views memory the handler owns or keeps (Fetch records): large views go out as they are,
  // in the same gathered write, instead of being copied into the response buffer.
  std::vector<protocol::spliced_bytes> splices;
  out.response = protocol::encode_response_spliced(*resp, ctx.version(), ctx.header.correlation_id,
                                                   splices, response_splice_min_bytes);
  out.splices.reserve(splices.size());
  for (const auto& sp : splices) out.splices.push_back({sp.position, sp.bytes.data(), sp.bytes.size()});
  out.owned = std::move(ctx.owned_buffers);
  out.lease = std::move(ctx.memory_lease);
  co_return out;
}

// The served range must lie inside what the schema can decode and encode.
template <class Req, class Resp, handler_fn<Req, Resp> Fn, int16_t MinVersion, int16_t MaxVersion>
constexpr api_route make_route(std::string_view name) {
  static_assert(MinVersion >= Req::min_version && MaxVersion <= Req::max_version,
                "served versions outside the schema's range");
  static_assert(MinVersion <= MaxVersion);
  return api_route{Req::api_key, name, MinVersion, MaxVersion, &invoke_route<Req, Resp, Fn>};
}

// Every route, sorted by key (handlers/registry.cc).
std::span<const api_route> all_routes();
const api_route* find_route(int16_t key);

}  // namespace gregor::server
