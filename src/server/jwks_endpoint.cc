#include "jwks_endpoint.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "gregor/base/log.h"
#include "gregor/net/tls.h"

namespace gregor::server {
namespace {
namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;

constexpr size_t max_body_bytes = 1 << 20;
constexpr size_t max_missing_kids = 16;   // Kafka's missing-key-id cache size
constexpr size_t max_kid_length = 1000;  // longer ids are not remembered (nor refreshed for)

spdlog::logger& lg() { return log::get("security"); }

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

std::string host_header(const http_url& u) {
  const bool v6 = u.host.find(':') != std::string::npos;
  std::string h = v6 ? "[" + u.host + "]" : u.host;
  const bool default_port = (u.scheme == "http" && u.port == "80") || (u.scheme == "https" && u.port == "443");
  return default_port ? h : h + ":" + u.port;
}

// Writes the request and reads the answer over `stream`; the body of a 200.
template <class Stream>
asio::awaitable<result<std::string, std::string>> exchange(Stream& stream, const http_url& u) {
  http::request<http::empty_body> req{http::verb::get, u.target, 11};
  req.set(http::field::host, host_header(u));
  req.set(http::field::user_agent, "gregor");
  req.set(http::field::accept, "application/json");
  req.set(http::field::connection, "close");
  auto [wec, written] = co_await http::async_write(stream, req, asio::as_tuple(asio::use_awaitable));
  (void)written;
  if (wec) co_return failure{fmt::format("sending the request: {}", wec.message())};
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_body_bytes);
  auto [rec, read] = co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  (void)read;
  if (rec) co_return failure{fmt::format("reading the answer: {}", rec.message())};
  const auto& res = parser.get();
  if (res.result_int() != 200)
    co_return failure{fmt::format("the server answered HTTP {} {}", res.result_int(), std::string(res.reason()))};
  co_return res.body();
}

asio::awaitable<result<std::string, std::string>> get(asio::io_context& io, const http_url& u,
                                                      const net::tls_context_ptr& tls, bool verify_host) {
  tcp::resolver resolver(io);
  auto [ec, endpoints] = co_await resolver.async_resolve(u.host, u.port, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return failure{fmt::format("cannot resolve {}: {}", u.host, ec.message())};
  tcp::socket socket(io);
  auto [cec, connected] = co_await asio::async_connect(socket, endpoints, asio::as_tuple(asio::use_awaitable));
  (void)connected;
  if (cec) co_return failure{fmt::format("cannot connect to {}:{}: {}", u.host, u.port, cec.message())};
  if (u.scheme == "http") co_return co_await exchange(socket, u);

  asio::ssl::stream<tcp::socket&> stream(socket, *tls);
  net::prepare_client_tls(stream.native_handle(), u.host, verify_host);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::client, asio::as_tuple(asio::use_awaitable));
  if (hec)
    co_return failure{fmt::format("TLS handshake with {}:{} failed: {}", u.host, u.port,
                                  net::tls_handshake_failure(stream.native_handle(), hec.message()))};
  co_return co_await exchange(stream, u);
}

}  // namespace

result<http_url, std::string> parse_http_url(std::string_view text) {
  std::string s(text);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  const size_t sep = s.find("://");
  if (sep == std::string::npos) return failure{fmt::format("'{}' is not an absolute URL", s)};
  http_url u;
  u.scheme = lower(s.substr(0, sep));
  if (u.scheme != "http" && u.scheme != "https")
    return failure{fmt::format("'{}': the scheme is not http or https", s)};
  std::string rest = s.substr(sep + 3);
  const size_t path_at = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, path_at);
  u.target = path_at == std::string::npos ? "/" : rest.substr(path_at);
  if (const size_t hash = u.target.find('#'); hash != std::string::npos) u.target.erase(hash);
  if (u.target.empty() || u.target[0] != '/') u.target = "/" + u.target;
  if (authority.find('@') != std::string::npos)
    return failure{fmt::format("'{}': user information in the URL is not supported", s)};
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string::npos) return failure{fmt::format("'{}': unterminated [address]", s)};
    u.host = authority.substr(1, close - 1);
    authority.erase(0, close + 1);
    if (!authority.empty() && authority[0] != ':') return failure{fmt::format("'{}': bad host", s)};
    if (!authority.empty()) u.port = authority.substr(1);
  } else {
    const size_t colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return failure{fmt::format("'{}': no host", s)};
  if (u.port.empty()) u.port = u.scheme == "https" ? "443" : "80";
  if (!std::all_of(u.port.begin(), u.port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }) ||
      u.port.size() > 5 || std::stoi(u.port) == 0 || std::stoi(u.port) > 65535)
    return failure{fmt::format("'{}': bad port '{}'", s, u.port)};
  return u;
}

result<std::string, std::string> http_get(const http_url& url, const net::tls_context_ptr& tls, bool verify_host,
                                          int64_t timeout_ms) {
  if (url.scheme == "https" && !tls) return failure{std::string("no TLS context for an https URL")};
  std::optional<result<std::string, std::string>> out;  // outlives the io_context and the coroutine frame
  {
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto r = co_await get(io, url, tls, verify_host);
          out = std::move(r);
        },
        [&](std::exception_ptr e) {
          if (!e || out) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            out = failure{std::string(ex.what())};
          }
        });
    io.run_for(std::chrono::milliseconds(timeout_ms));
    // A fetch still running is abandoned: the io_context's destruction closes its socket.
  }
  if (!out) return failure{fmt::format("no answer within {} ms", timeout_ms)};
  return std::move(*out);
}

result<std::unique_ptr<jwks_endpoint>, std::string> jwks_endpoint::start(options o) {
  std::unique_ptr<jwks_endpoint> e(new jwks_endpoint(std::move(o)));
  auto u = parse_http_url(e->_o.url);
  if (!u) return failure{fmt::format("config '{}': {}", e->_o.url_key, u.error())};
  e->_url = std::move(*u);
  if (e->_url.scheme == "https") {
    auto ctx = net::make_client_tls_context(e->_o.trust);
    if (!ctx) return failure{fmt::format("config '{}': the trust store for {}: {}", e->_o.url_key, e->_o.url, ctx.error())};
    e->_tls = std::move(*ctx);
  }
  if (auto r = e->refresh(); !r)
    return failure{fmt::format("config '{}': cannot get the JWKS from {}: {}", e->_o.url_key, e->_o.url, r.error())};
  e->_thread = std::thread([p = e.get()] { p->run(); });
  return e;
}

jwks_endpoint::~jwks_endpoint() {
  {
    std::lock_guard lock(_mu);
    _stop = true;
  }
  _cv.notify_all();
  if (_thread.joinable()) _thread.join();
}

std::shared_ptr<const security::jwk_set> jwks_endpoint::keys() const {
  std::lock_guard lock(_mu);
  return _keys;
}

bool jwks_endpoint::key_missing(std::string_view kid) {
  if (kid.size() > max_kid_length) return false;
  const int64_t now = steady_ms();
  {
    std::lock_guard lock(_mu);
    auto it = _missing.find(std::string(kid));
    if (it != _missing.end() && now - it->second < _o.missing_kid_interval_ms) return false;
    if (it == _missing.end() && _missing.size() >= max_missing_kids) {
      auto oldest = std::min_element(_missing.begin(), _missing.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
      _missing.erase(oldest);
    }
    _missing[std::string(kid)] = now;
    _expedite = true;
  }
  lg().info("JWKS {}: a token names key id '{}', which the set lacks: refreshing now", _o.url, kid);
  _cv.notify_all();
  return true;
}

result<void, std::string> jwks_endpoint::fetch_once() {
  auto body = http_get(_url, _tls, _o.verify_host, _o.timeout_ms);
  if (!body) return failure{body.error()};
  auto set = security::jwk_set::parse(*body);
  if (!set) return failure{fmt::format("the answer is not a JWKS: {}", set.error())};
  if (set->size() == 0)
    return failure{std::string("the JWKS holds no usable verification key (RSA of 2048 bits or more, or EC "
                               "P-256/384/521)")};
  const size_t n = set->size();
  {
    std::lock_guard lock(_mu);
    _keys = std::make_shared<const security::jwk_set>(std::move(*set));
  }
  _fetches.fetch_add(1);
  lg().debug("JWKS {}: {} key(s)", _o.url, n);
  return ok;
}

result<void, std::string> jwks_endpoint::refresh() {
  int64_t backoff = std::max<int64_t>(_o.retry_backoff_ms, 1);
  int64_t waited = 0;
  for (;;) {
    auto r = fetch_once();
    if (r) return r;
    if (waited >= _o.retry_backoff_max_ms) return r;
    const int64_t wait = std::min(backoff, _o.retry_backoff_max_ms - waited);
    lg().debug("JWKS {}: {}; retrying in {} ms", _o.url, r.error(), wait);
    std::unique_lock lock(_mu);
    if (_cv.wait_for(lock, std::chrono::milliseconds(wait), [&] { return _stop; })) return r;
    waited += wait;
    backoff *= 2;
  }
}

void jwks_endpoint::run() {
  std::unique_lock lock(_mu);
  for (;;) {
    _cv.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(_o.refresh_ms, 1)),
                 [&] { return _stop || _expedite; });
    if (_stop) return;
    _expedite = false;
    lock.unlock();
    if (auto r = refresh(); !r)
      lg().warn("JWKS {}: refresh failed, the last good keys stay in use: {}", _o.url, r.error());
    lock.lock();
  }
}

}  // namespace gregor::server
