#include "gregor/rpc/connection.h"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "gregor/net/tls.h"
#include "gregor/base/log.h"
#include "gregor/protocol/error_code.h"
#include "gregor/protocol/messages/api_versions.h"
#include "gregor/protocol/messages/sasl_authenticate.h"
#include "gregor/protocol/messages/sasl_handshake.h"
#include "gregor/security/plain.h"
#include "gregor/security/scram.h"

namespace gregor::rpc {
namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

spdlog::logger& logger() {
  return log::get("rpc");
}

std::string api_name(int16_t api_key) {
  const protocol::api_info* info = protocol::find_api(api_key);
  return info != nullptr ? std::string(info->name) : fmt::format("API {}", api_key);
}

int32_t read_be32(const uint8_t* p) {
  return int32_t(uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 |
                 uint32_t(p[3]));
}

}  // namespace

std::shared_ptr<connection> connection::create(asio::any_io_executor executor, node_id node,
                                               endpoint ep, connection_options opts) {
  return std::shared_ptr<connection>(
      new connection(std::move(executor), node, std::move(ep), std::move(opts)));
}

connection::connection(asio::any_io_executor executor, node_id node, endpoint ep,
                       connection_options opts)
    : _executor(executor),
      _node(node),
      _endpoint(std::move(ep)),
      _opts(std::move(opts)),
      _socket(executor),
      _name(fmt::format("node {} ({}:{})", node.value(), _endpoint.host, _endpoint.port)) {
  GREGOR_ASSERT(_opts.inflight_max >= 1);
  GREGOR_ASSERT(_opts.write_batch_max >= 1);
  GREGOR_ASSERT(_opts.response_bytes_max >= 4);
}

rpc_error connection::make_error(rpc_error_kind kind, std::string_view what) const {
  return rpc_error{kind, fmt::format("{}: {}", _name, what)};
}

steady_time connection::deadline_after(int64_t timeout_ms) {
  return std::chrono::steady_clock::now() +
         std::chrono::milliseconds(std::max<int64_t>(0, timeout_ms));
}

int32_t connection::next_correlation_id() {
  // Wraps past INT32_MAX; ids are only compared for equality, and a live one is never reused
  // because far fewer than 2^31 requests are in flight.
  _correlation_id = _correlation_id == INT32_MAX ? 0 : _correlation_id + 1;
  return _correlation_id;
}

std::optional<std::pair<int16_t, int16_t>> connection::peer_versions(int16_t api_key) const {
  auto it = _peer_versions.find(api_key);
  if (it == _peer_versions.end()) return std::nullopt;
  return it->second;
}

result<int16_t, rpc_error> connection::pick_version(int16_t api_key, int16_t our_min,
                                                    int16_t our_max,
                                                    const call_options& opts) const {
  if (_state == state::closed) return failure{_close_error};
  if (_state != state::ready)
    return failure{make_error(rpc_error_kind::disconnected, "the connection is not open")};
  auto it = _peer_versions.find(api_key);
  if (it == _peer_versions.end())
    return failure{make_error(rpc_error_kind::unsupported_version,
                              fmt::format("the peer does not support {}", api_name(api_key)))};
  const int16_t lo = std::max(our_min, it->second.first);
  int16_t hi = std::min(our_max, it->second.second);
  if (opts.max_version >= 0) hi = std::min(hi, opts.max_version);
  const auto range_text = [&] {
    return fmt::format(
        "{}: the peer supports {}-{}, we {}-{}{}", api_name(api_key), it->second.first,
        it->second.second, our_min, our_max,
        opts.max_version >= 0 ? fmt::format(" (capped at {})", opts.max_version) : "");
  };
  if (opts.version >= 0) {
    if (opts.version < lo || opts.version > hi)
      return failure{make_error(rpc_error_kind::unsupported_version,
                                fmt::format("version {} of {}", opts.version, range_text()))};
    return opts.version;
  }
  if (hi < lo)
    return failure{make_error(rpc_error_kind::unsupported_version,
                              fmt::format("no common version of {}", range_text()))};
  return hi;
}

rpc_error connection::decode_failure(int16_t api_key, int16_t version,
                                     const std::string& why) const {
  return make_error(rpc_error_kind::decode_error,
                    fmt::format("malformed {} v{} response: {}", api_name(api_key), version, why));
}

// ---- open ---------------------------------------------------------------------------------

asio::awaitable<result<void, rpc_error>> connection::open() {
  GREGOR_ASSERT(_state == state::idle);
  auto self = shared_from_this();
  _state = state::connecting;
  const steady_time deadline = deadline_after(_opts.connect_timeout_ms);
  // Anything but stop() or a refusal of versions is, for the caller, a failed connect.
  const auto fail = [this](const rpc_error& e) -> rpc_error {
    rpc_error out = e;
    if (e.kind == rpc_error_kind::timeout || e.kind == rpc_error_kind::disconnected ||
        e.kind == rpc_error_kind::protocol_error)
      out.kind = rpc_error_kind::connect_failed;
    close(out);
    return _close_error.kind == rpc_error_kind::stopped ? _close_error : out;
  };
  if (auto c = co_await connect_socket(deadline); !c) co_return failure{fail(c.error())};
  if (_state == state::closed) co_return failure{_close_error};
  error_code ignored;
  _socket.set_option(tcp::no_delay(true), ignored);
  start_loops();
  if (auto n = co_await negotiate(deadline); !n) co_return failure{fail(n.error())};
  if (_state == state::closed) co_return failure{_close_error};
  _state = state::ready;
  if (_opts.sasl) {
    // Nobody else has the connection before open() returns: the exchange is its only traffic.
    if (auto a = co_await authenticate(deadline); !a) co_return failure{fail(a.error())};
    if (_state == state::closed) co_return failure{_close_error};
  }
  logger().debug("connected to {}, ApiVersions v{}, {} APIs", _name, _api_versions_version,
                 _peer_versions.size());
  co_return ok;
}

asio::awaitable<result<void, rpc_error>> connection::authenticate(steady_time deadline) {
  const auto& login = *_opts.sasl;
  auto remaining_ms = [deadline] {
    return std::max<int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
  };
  auto refused = [&](std::string_view why) {
    return make_error(rpc_error_kind::connect_failed, fmt::format("SASL {} authentication as {} failed: {}",
                                                                 login.mechanism, login.username, why));
  };
  call_options o;
  o.timeout_ms = remaining_ms();
  protocol::sasl_handshake_request hs;
  hs.mechanism = login.mechanism;
  auto h = co_await call<protocol::sasl_handshake_request, protocol::sasl_handshake_response>(hs, o);
  if (!h) co_return failure{h.error()};
  if (h->error_code != 0)
    co_return failure{refused(fmt::format("SaslHandshake answered {}", protocol::error_name(static_cast<protocol::error_code>(h->error_code))))};
  // One token exchange: the peer's answer, or its error.
  auto exchange = [&](std::vector<uint8_t> token) -> asio::awaitable<result<std::vector<uint8_t>, rpc_error>> {
    protocol::sasl_authenticate_request req;
    req.auth_bytes = std::move(token);
    call_options co;
    co.timeout_ms = remaining_ms();
    auto r = co_await call<protocol::sasl_authenticate_request, protocol::sasl_authenticate_response>(req, co);
    if (!r) co_return failure{r.error()};
    if (r->error_code != 0)
      co_return failure{refused(fmt::format("{}: {}", protocol::error_name(static_cast<protocol::error_code>(r->error_code)), r->error_message.value_or("")))};
    co_return std::move(r->auth_bytes);
  };
  if (login.mechanism == "PLAIN") {
    auto token = security::plain_client_message(login.username, login.password);
    auto r = co_await exchange(std::move(token));
    if (!r) co_return failure{r.error()};
    co_return ok;
  }
  auto m = security::scram_mechanism_from_name(login.mechanism);
  if (!m) co_return failure{refused("unsupported mechanism")};
  security::scram_client client(*m, login.username, login.password);
  auto first = client.first_message();
  auto server_first = co_await exchange(std::move(first));
  if (!server_first) co_return failure{server_first.error()};
  auto final_message = client.handle_server_first(*server_first);
  if (!final_message) co_return failure{refused(final_message.error())};
  auto server_final = co_await exchange(std::move(*final_message));
  if (!server_final) co_return failure{server_final.error()};
  if (auto v = client.handle_server_final(*server_final); !v) co_return failure{refused(v.error())};
  co_return ok;
}

asio::awaitable<result<void, rpc_error>> connection::connect_socket(steady_time deadline) {
  // A watchdog closes the socket at the deadline; it shares its flags with this coroutine through
  // a shared_ptr because its handler may run after we return. The name lookup has the same
  // deadline (host_resolver: never queued behind another name's slow lookup).
  struct watchdog_state {
    bool finished = false;
    bool fired = false;
  };
  auto watch = std::make_shared<watchdog_state>();
  asio::steady_timer timer(_executor, deadline);
  timer.async_wait([self = shared_from_this(), watch](const error_code& ec) {
    if (ec || watch->finished) return;
    watch->fired = true;
    error_code ignored;
    self->_socket.close(ignored);
  });

  error_code ec;
  std::string lookup_error;
  const auto resolver = _opts.resolver ? _opts.resolver : host_resolver::shared();
  std::string host = _endpoint.host;
  auto lookup = resolver->resolve(_executor, host, deadline);
  auto addrs = co_await std::move(lookup);
  if (!addrs) {
    lookup_error = addrs.error();
  } else if (!watch->fired && _state != state::closed) {
    std::vector<tcp::endpoint> eps;
    for (const auto& a : *addrs) eps.emplace_back(a, _endpoint.port);
    auto [e, chosen] = co_await asio::async_connect(_socket, eps, asio::as_tuple(asio::use_awaitable));
    ec = e;
  }
  watch->finished = true;
  timer.cancel();
  if (_state == state::closed) co_return failure{_close_error};
  if (watch->fired)
    co_return failure{
        make_error(rpc_error_kind::connect_failed,
                   fmt::format("could not connect within {} ms", _opts.connect_timeout_ms))};
  if (!lookup_error.empty())
    co_return failure{make_error(rpc_error_kind::connect_failed,
                                 fmt::format("could not resolve {}: {}", _endpoint.host, lookup_error))};
  if (ec)
    co_return failure{make_error(rpc_error_kind::connect_failed,
                                 fmt::format("could not connect: {}", ec.message()))};
  if (_opts.tls_source) _opts.tls = _opts.tls_source->current();
  if (_opts.tls) {
    // The handshake runs under the same deadline: the watchdog closes the socket.
    watch->finished = false;
    asio::steady_timer tls_timer(_executor, deadline);
    tls_timer.async_wait([self = shared_from_this(), watch](const error_code& e) {
      if (e || watch->finished) return;
      watch->fired = true;
      error_code ignored;
      self->_socket.close(ignored);
    });
    auto h = co_await tls_handshake();
    watch->finished = true;
    tls_timer.cancel();
    if (_state == state::closed) co_return failure{_close_error};
    if (watch->fired)
      co_return failure{make_error(rpc_error_kind::connect_failed,
                                   fmt::format("TLS handshake not done within {} ms", _opts.connect_timeout_ms))};
    if (!h) co_return h;
  }
  co_return ok;
}

asio::awaitable<result<void, rpc_error>> connection::tls_handshake() {
  auto self = shared_from_this();
  _tls = std::make_shared<asio::ssl::stream<tcp::socket&>>(_socket, *_opts.tls);
  net::prepare_client_tls(_tls->native_handle(), _endpoint.host, _opts.tls_verify_host);
  auto [ec] = co_await _tls->async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (ec)
    co_return failure{make_error(rpc_error_kind::connect_failed,
                                 "TLS handshake failed: " + net::tls_handshake_failure(_tls->native_handle(), ec.message()))};
  co_return ok;
}

asio::awaitable<result<void, rpc_error>> connection::negotiate(steady_time deadline) {
  using protocol::api_versions_request;
  using protocol::api_versions_response;
  constexpr int16_t unsupported = protocol::code_of(protocol::error_code::unsupported_version);
  int16_t version = api_versions_request::max_version;
  for (int attempt = 0;; ++attempt) {
    api_versions_request req;
    req.client_software_name = _opts.software_name;
    req.client_software_version = _opts.software_version;
    const int32_t correlation_id = next_correlation_id();
    auto raw =
        co_await send(protocol::encode_request(req, version, correlation_id, _opts.client_id),
                      correlation_id, req.api_key, version, deadline);
    if (!raw) co_return failure{raw.error()};
    const auto body = std::span<const uint8_t>(raw.value().frame).subspan(raw.value().body_offset);
    api_versions_response resp;
    protocol::reader r(body);
    resp.decode(r, version);
    if (!r.ok() || resp.error_code != 0) {
      // A peer that does not know our version answers UNSUPPORTED_VERSION with a v0 body listing
      // its APIs: retry once at its highest ApiVersions version below ours (v0 if it lists none).
      api_versions_response v0;
      protocol::reader r0(body);
      v0.decode(r0, 0);
      if (r0.ok() && v0.error_code == unsupported && attempt == 0 && version > 0) {
        int16_t next = 0;
        for (const auto& k : v0.api_keys)
          if (k.api_key == req.api_key && k.max_version >= 0 && k.max_version < version)
            next = k.max_version;
        logger().debug("{} refused ApiVersions v{}, retrying at v{}", _name, version, next);
        version = next;
        continue;
      }
      if (!r.ok()) co_return failure{decode_failure(req.api_key, version, r.error())};
      co_return failure{
          make_error(resp.error_code == unsupported ? rpc_error_kind::unsupported_version
                                                    : rpc_error_kind::connect_failed,
                     fmt::format("ApiVersions v{} answered {}", version,
                                 protocol::error_name(protocol::error_code(resp.error_code))))};
    }
    for (const auto& k : resp.api_keys) _peer_versions[k.api_key] = {k.min_version, k.max_version};
    if (_peer_versions.empty())
      co_return failure{make_error(rpc_error_kind::decode_error, "ApiVersions listed no APIs")};
    _api_versions_version = version;
    co_return ok;
  }
}

// ---- requests -----------------------------------------------------------------------------

asio::awaitable<result<void, rpc_error>> connection::acquire_slot(steady_time deadline) {
  if (_state == state::closed) co_return failure{_close_error};
  if (_slots_used < _opts.inflight_max && _slot_waiters.empty()) {
    ++_slots_used;
    co_return ok;
  }
  if (_slot_waiters.size() >= _opts.queued_max)
    co_return failure{
        make_error(rpc_error_kind::overloaded,
                   fmt::format("{} requests in flight and {} callers already waiting for a slot",
                               _in_flight.size(), _slot_waiters.size()))};
  auto w = std::make_shared<slot_waiter>();
  _slot_waiters.push_back(w);
  while (!w->granted && !w->failed) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::erase(_slot_waiters, w);
      co_return failure{
          make_error(rpc_error_kind::timeout, "timed out waiting for an in-flight slot")};
    }
    co_await w->wake.wait_until(deadline);
  }
  if (w->failed) co_return failure{*w->failed};
  if (_state == state::closed) co_return failure{_close_error};
  if (std::chrono::steady_clock::now() >= deadline) {
    release_slot();
    co_return failure{
        make_error(rpc_error_kind::timeout, "timed out waiting for an in-flight slot")};
  }
  co_return ok;
}

void connection::release_slot() {
  if (_state == state::closed) return;
  GREGOR_ASSERT(_slots_used > 0);
  if (!_slot_waiters.empty()) {
    // Hand the slot over: _slots_used keeps counting it for the woken waiter.
    auto w = std::move(_slot_waiters.front());
    _slot_waiters.pop_front();
    w->granted = true;
    w->wake.notify_all();
    return;
  }
  --_slots_used;
}

asio::awaitable<result<raw_reply, rpc_error>> connection::send(std::vector<uint8_t> frame,
                                                               int32_t correlation_id,
                                                               int16_t api_key, int16_t version,
                                                               steady_time deadline) {
  auto self = shared_from_this();
  GREGOR_ASSERT(_state != state::idle);
  const auto started = std::chrono::steady_clock::now();
  if (auto s = co_await acquire_slot(deadline); !s) co_return failure{s.error()};
  if (_state == state::closed) co_return failure{_close_error};

  auto p = std::make_shared<pending>();
  p->api_key = api_key;
  p->version = version;
  GREGOR_ASSERT(!_in_flight.contains(correlation_id));
  _in_flight.emplace(correlation_id, p);
  _write_queue.push_back(std::move(frame));
  _write_signal.notify_all();

  while (!p->outcome) {
    if (std::chrono::steady_clock::now() >= deadline) {
      // The peer may still answer: the request keeps its slot until then (see the class comment).
      p->abandoned = true;
      const auto waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now() - started)
                                 .count();
      rpc_error e = make_error(rpc_error_kind::timeout,
                               fmt::format("no response to {} v{} (correlation id {}) within {} ms",
                                           api_name(api_key), version, correlation_id, waited_ms));
      logger().debug("{}", e.message);
      const bool stuck = _in_flight.size() >= _opts.inflight_max &&
                         std::all_of(_in_flight.begin(), _in_flight.end(),
                                     [](const auto& kv) { return kv.second->abandoned; });
      if (stuck)
        close(make_error(rpc_error_kind::disconnected,
                         fmt::format("all {} in-flight requests timed out", _in_flight.size())));
      co_return failure{std::move(e)};
    }
    co_await p->done.wait_until(deadline);
  }
  co_return std::move(*p->outcome);
}

// ---- background loops ---------------------------------------------------------------------

void connection::start_loops() {
  auto spawn = [this](asio::awaitable<void> (connection::*loop)()) {
    ++_loops_running;
    asio::co_spawn(
        _executor,
        [self = shared_from_this(), loop]() -> asio::awaitable<void> {
          co_await ((*self).*loop)();
        },
        [self = shared_from_this()](std::exception_ptr e) {
          if (e) {
            try {
              std::rethrow_exception(e);
            } catch (const std::exception& ex) {
              self->close(self->make_error(rpc_error_kind::disconnected,
                                           fmt::format("internal error: {}", ex.what())));
            }
          }
          if (--self->_loops_running == 0) self->_loops_done.notify_all();
        });
  };
  spawn(&connection::read_loop);
  spawn(&connection::write_loop);
}

asio::awaitable<void> connection::read_loop() {
  std::array<uint8_t, 4> size_prefix{};
  while (_state != state::closed) {
    auto [ec, n] = _tls ? co_await asio::async_read(*_tls, asio::buffer(size_prefix), asio::as_tuple(asio::use_awaitable))
                        : co_await asio::async_read(_socket, asio::buffer(size_prefix),
                                                    asio::as_tuple(asio::use_awaitable));
    if (ec) {
      close(make_error(rpc_error_kind::disconnected,
                       ec == asio::error::eof ? "the peer closed the connection"
                                              : fmt::format("read failed: {}", ec.message())));
      break;
    }
    const int32_t size_bytes = read_be32(size_prefix.data());
    if (size_bytes < 4 || size_bytes > _opts.response_bytes_max) {
      close(make_error(rpc_error_kind::protocol_error,
                       fmt::format("response size {} is outside 4..{} bytes", size_bytes,
                                   _opts.response_bytes_max)));
      break;
    }
    std::vector<uint8_t> frame(static_cast<size_t>(size_bytes));
    auto [ec2, n2] = _tls ? co_await asio::async_read(*_tls, asio::buffer(frame), asio::as_tuple(asio::use_awaitable))
                          : co_await asio::async_read(_socket, asio::buffer(frame),
                                                      asio::as_tuple(asio::use_awaitable));
    if (ec2) {
      close(make_error(
          rpc_error_kind::disconnected,
          fmt::format("response cut short: {}",
                      ec2 == asio::error::eof ? "the peer closed the connection" : ec2.message())));
      break;
    }
    if (_state == state::closed) break;
    const int32_t correlation_id = read_be32(frame.data());
    auto it = _in_flight.find(correlation_id);
    if (it == _in_flight.end()) {
      close(make_error(
          rpc_error_kind::protocol_error,
          fmt::format("response with correlation id {} matches no request", correlation_id)));
      break;
    }
    auto p = std::move(it->second);
    _in_flight.erase(it);
    release_slot();
    if (p->abandoned) {
      logger().debug("{}: dropped the late response to correlation id {}", _name, correlation_id);
      continue;
    }
    // Response header: correlation id, then (header v1) a tagged-field section we skip.
    protocol::reader r(frame);
    r.read_int32();
    if (protocol::response_header_version(p->api_key, p->version) >= 1) r.skip_tagged_fields();
    if (!r.ok()) {
      p->outcome.emplace(failure{decode_failure(p->api_key, p->version, r.error())});
    } else {
      const size_t body_offset = r.position();
      p->outcome.emplace(raw_reply{std::move(frame), body_offset});
    }
    p->done.notify_all();
  }
}

asio::awaitable<void> connection::write_loop() {
  std::vector<std::vector<uint8_t>> batch;
  std::vector<std::array<uint8_t, 4>> prefixes;
  std::vector<asio::const_buffer> buffers;
  std::vector<uint8_t> tls_out;
  while (true) {
    while (_write_queue.empty() && _state != state::closed)
      co_await _write_signal.wait_until(steady_time::max());
    if (_state == state::closed) break;
    batch.clear();
    while (!_write_queue.empty() && batch.size() < _opts.write_batch_max) {
      batch.push_back(std::move(_write_queue.front()));
      _write_queue.pop_front();
    }
    prefixes.resize(batch.size());
    buffers.clear();
    for (size_t i = 0; i < batch.size(); ++i) {
      const uint32_t n = uint32_t(batch[i].size());
      prefixes[i] = {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
      buffers.push_back(asio::buffer(prefixes[i]));
      buffers.push_back(asio::buffer(batch[i]));
    }
    if (_tls) {
      // One TLS record per buffer otherwise: write the batch as one piece.
      tls_out.clear();
      for (const auto& b : buffers) {
        const auto* p = static_cast<const uint8_t*>(b.data());
        tls_out.insert(tls_out.end(), p, p + b.size());
      }
    }
    auto [ec, n] = _tls ? co_await asio::async_write(*_tls, asio::buffer(tls_out), asio::as_tuple(asio::use_awaitable))
                        : co_await asio::async_write(_socket, buffers, asio::as_tuple(asio::use_awaitable));
    if (ec) {
      close(
          make_error(rpc_error_kind::disconnected, fmt::format("write failed: {}", ec.message())));
      break;
    }
  }
}

// ---- close / stop -------------------------------------------------------------------------

void connection::close(rpc_error why) {
  if (_state == state::closed) return;
  const bool was_ready = _state == state::ready;
  _state = state::closed;
  _closed_at = std::chrono::steady_clock::now();
  _close_error = std::move(why);
  switch (_close_error.kind) {
    case rpc_error_kind::stopped:
      logger().debug("closed {}", _close_error.message);
      break;
    case rpc_error_kind::protocol_error:
      logger().error("closed {}", _close_error.message);
      break;
    default:
      if (was_ready)
        logger().info("closed {}", _close_error.message);
      else
        logger().debug("closed {}", _close_error.message);
  }
  error_code ignored;
  _socket.close(ignored);
  for (auto& [id, p] : _in_flight) {
    if (p->abandoned) continue;
    p->outcome.emplace(failure{_close_error});
    p->done.notify_all();
  }
  _in_flight.clear();
  for (auto& w : _slot_waiters) {
    w->failed = _close_error;
    w->wake.notify_all();
  }
  _slot_waiters.clear();
  _slots_used = 0;
  _write_queue.clear();
  _write_signal.notify_all();
}

asio::awaitable<void> connection::stop() {
  auto self = shared_from_this();
  close(make_error(rpc_error_kind::stopped, "stopped"));
  while (_loops_running > 0) co_await _loops_done.wait_until(steady_time::max());
}

}  // namespace gregor::rpc
