#include "server_core.h"

#include <algorithm>
#include <filesystem>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/ranges.h>

#include "connection.h"
#include "gregor/net/tls.h"
#include "gregor/base/log.h"

namespace gregor::net::detail {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto addr = ep.address();
  if (addr.is_v6()) return fmt::format("[{}]:{}", addr.to_string(), ep.port());
  return fmt::format("{}:{}", addr.to_string(), ep.port());
}

result<tcp::endpoint, std::string> resolve(asio::io_context& io, const listener_spec& spec) {
  boost::system::error_code ec;
  if (spec.host.empty()) return tcp::endpoint(tcp::v4(), spec.port);
  auto addr = asio::ip::make_address(spec.host, ec);
  if (!ec) return tcp::endpoint(addr, spec.port);
  tcp::resolver resolver(io);
  auto results = resolver.resolve(spec.host, std::to_string(spec.port), ec);
  if (ec || results.empty()) {
    return failure{fmt::format("listener {}: cannot resolve host '{}': {}", spec.name, spec.host,
                               ec ? ec.message() : "no addresses")};
  }
  return results.begin()->endpoint();
}

// Restores a pointer member to nullptr when a coroutine frame unwinds or is destroyed.
struct pointer_reset {
  asio::steady_timer*& p;
  ~pointer_reset() { p = nullptr; }
};

}  // namespace

server_core::server_core(asio::io_context& io, server_options opts, frame_handler& handler)
    : io(io),
      opts(std::move(opts)),
      handler(handler),
      _creation_rate(this->opts.quota_window_ms, this->opts.quota_window_num),
      _ip_rates(this->opts.quota_window_ms, this->opts.quota_window_num) {}

server_core::~server_core() { shut_down(); }

asio::io_context& server_core::network_io() {
  if (_net_ios.empty()) return io;
  auto& chosen = *_net_ios[_next_net_io % _net_ios.size()];
  ++_next_net_io;
  return chosen;
}

void server_core::shut_down() {
  close_all("server closing");
  if (_net_ios.empty()) return;
  // Each network thread runs the closes posted to it above (first in, first out), then stops.
  for (auto& w : _net_work) w.reset();
  for (auto& n : _net_ios) asio::post(*n, [n = n.get()] { n->stop(); });
  for (auto& t : _net_threads) {
    if (t.joinable()) t.join();
  }
  _net_threads.clear();
  // What the closed connections still had pending (reads and waits ending with errors, outcomes
  // posted back) runs here, on this thread, now that no network thread runs: the connections
  // let go of themselves. The table's references go too.
  for (auto& n : _net_ios) {
    n->restart();
    n->poll();
  }
  _connections.clear();
  {
    std::lock_guard lk(_pool_mu);
    _pool_waiters.clear();
  }
  _net_work.clear();
  _net_ios.clear();  // destroys anything still queued, while the connections' io_contexts exist
}

std::string server_core::per_ip_refusal(const std::string& ip) const {
  auto o = opts.connections_per_ip_overrides.find(ip);
  const size_t limit = o != opts.connections_per_ip_overrides.end() ? o->second : opts.connections_per_ip_max;
  auto it = _per_ip.find(ip);
  const size_t open = it == _per_ip.end() ? 0 : it->second;
  if (open < limit) return "";
  return fmt::format("address {} already has the configured maximum of {} connections ({})", ip, limit,
                     o != opts.connections_per_ip_overrides.end() ? "max.connections.per.ip.overrides"
                                                                   : "max.connections.per.ip");
}

result<void, std::string> server_core::start() {
  auto& lg = gregor::log::get("net");
  for (size_t i = 0; i < opts.listeners.size(); ++i) {
    const auto& spec = opts.listeners[i];
    auto ep = resolve(io, spec);
    if (!ep) return failure{ep.error()};
    const std::string where = fmt::format("listener {} at {}:{}", spec.name, spec.host, spec.port);
    tcp::acceptor acceptor(io);
    boost::system::error_code ec;
    acceptor.open(ep->protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && opts.socket_receive_buffer_bytes > 0) {
      // Set on the listening socket so the window scale is negotiated for accepted sockets.
      acceptor.set_option(asio::socket_base::receive_buffer_size(opts.socket_receive_buffer_bytes),
                          ec);
    }
    if (ec) return failure{fmt::format("{}: cannot open socket: {}", where, ec.message())};
    acceptor.bind(*ep, ec);
    if (ec) return failure{fmt::format("{}: cannot bind: {}", where, ec.message())};
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return failure{fmt::format("{}: cannot listen: {}", where, ec.message())};
    const auto local = acceptor.local_endpoint(ec);
    ports.push_back(ec ? 0 : local.port());
    lg.info("listening on {} ({})", ec ? where : endpoint_text(local), spec.name);
    _acceptors.push_back(std::move(acceptor));
    _tls_contexts.push_back(spec.tls);
    _tls_watched_files.push_back(spec.tls_watched_files);
    _tls_file_states.push_back(tls_file_states(spec.tls_watched_files));
    _tls_rebuild.push_back(spec.tls_rebuild);
  }
  if (opts.network_threads > 0 && _net_ios.empty()) {
    for (size_t k = 0; k < opts.network_threads; ++k) {
      _net_ios.push_back(std::make_unique<asio::io_context>(1));
      _net_work.push_back(asio::make_work_guard(*_net_ios.back()));
    }
    for (size_t k = 0; k < opts.network_threads; ++k) {
      _net_threads.emplace_back([n = _net_ios[k].get(), k] {
        const std::string name = fmt::format("gregor-net-{}", k);
        pthread_setname_np(pthread_self(), name.c_str());
        n->run();
      });
    }
  }
  auto self = shared_from_this();
  for (size_t i = 0; i < _acceptors.size(); ++i) {
    asio::co_spawn(io, [self, i]() { return self->accept_loop(i); }, asio::detached);
  }
  const bool reloadable = std::any_of(opts.listeners.begin(), opts.listeners.end(), [](const auto& l) {
    return l.tls && l.tls_rebuild && !l.tls_watched_files.empty();
  });
  if (reloadable) start_tls_reload();
  return ok;
}

void server_core::start_tls_reload() {
  if (_tls_reload_timer || _stopped) return;
  _tls_reload_timer = std::make_unique<asio::steady_timer>(io);
  auto self = shared_from_this();
  asio::co_spawn(io, [self]() { return self->tls_reload_loop(); }, asio::detached);
}

bool server_core::update_tls(const std::string& listener, std::shared_ptr<asio::ssl::context> tls,
                             std::vector<std::string> watched_files,
                             std::function<result<std::shared_ptr<asio::ssl::context>, std::string>()> rebuild) {
  for (size_t i = 0; i < _tls_contexts.size(); ++i) {
    if (opts.listeners[i].name != listener || !_tls_contexts[i]) continue;
    _tls_contexts[i] = std::move(tls);
    _tls_file_states[i] = tls_file_states(watched_files);
    _tls_watched_files[i] = std::move(watched_files);
    _tls_rebuild[i] = std::move(rebuild);
    if (_tls_rebuild[i] && !_tls_watched_files[i].empty()) start_tls_reload();
    return true;
  }
  return false;
}

asio::awaitable<void> server_core::accept_loop(size_t listener_index) {
  auto self = shared_from_this();
  auto& lg = gregor::log::get("net");
  const auto& spec = opts.listeners[listener_index];
  asio::steady_timer backoff(io);
  while (true) {
    auto& acceptor = _acceptors[listener_index];
    if (!acceptor.is_open()) co_return;
    // Accepted on the io thread's io_context: a pending accept then holds nothing of a network
    // thread's, whose io_context may be gone before this one (teardown). The connection's socket
    // moves to its network thread below.
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (!acceptor.is_open() || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning.
      lg.warn("accept on listener {} failed: {}", spec.name, ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    accepted++;
    boost::system::error_code opt_ec;
    const auto remote = socket.remote_endpoint(opt_ec);
    const std::string peer = opt_ec ? std::string("unknown") : endpoint_text(remote);
    if (connection_count.load() >= opts.connections_max) {
      lg.warn("refused connection from {} on {}: max.connections {} reached", peer, spec.name,
              opts.connections_max);
      socket.close(opt_ec);
      closed++;
      continue;
    }
    // The client's address as max.connections.per.ip.overrides names it (IPv4 seen through an
    // IPv6 socket as itself).
    std::string ip;
    if (!opt_ec) {
      auto addr = remote.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped()) addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
      ip = addr.to_string();
    }
    // KIP-612 (Kafka's ConnectionQuotas.recordIpConnectionMaybeThrottle, before the per-IP count).
    if (const auto limit = ip.empty() ? std::nullopt : handler.ip_connection_rate(ip)) {
      const int64_t now_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(steady::now().time_since_epoch()).count();
      if (const int64_t ms = _ip_rates.record(ip, *limit, now_ms); ms > 0) {
        lg.info("throttled connection from {} on {}: connection_creation_rate {}/s of {} exceeded, closing it in {} ms",
                peer, spec.name, *limit, ip, ms);
        hold_then_close(std::move(socket), ms);
        continue;
      }
    }
    if (std::string why = ip.empty() ? std::string() : per_ip_refusal(ip); !why.empty()) {
      lg.warn("refused connection from {} on {}: {}", peer, spec.name, why);
      socket.close(opt_ec);
      closed++;
      continue;
    }
    socket.set_option(tcp::no_delay(true), opt_ec);
    if (opts.socket_send_buffer_bytes > 0) {
      socket.set_option(asio::socket_base::send_buffer_size(opts.socket_send_buffer_bytes), opt_ec);
    }
    if (opts.socket_receive_buffer_bytes > 0) {
      socket.set_option(asio::socket_base::receive_buffer_size(opts.socket_receive_buffer_bytes),
                        opt_ec);
    }
    if (!connections_on_io_thread()) {
      boost::system::error_code move_ec;
      const auto protocol = socket.local_endpoint(move_ec).protocol();
      const auto fd = move_ec ? tcp::socket::native_handle_type(-1) : socket.release(move_ec);
      if (move_ec) {
        lg.info("dropped connection from {} on {}: cannot hand it to a network thread: {}", peer, spec.name,
                move_ec.message());
        socket.close(move_ec);
        closed++;
        continue;
      }
      socket = tcp::socket(network_io(), protocol, fd);
    }
    const uint64_t id = _next_connection_id++;
    auto conn = std::make_shared<connection>(self, std::move(socket),
                                             connection_info{id, peer, spec.name, spec.security_protocol},
                                             spec.authenticate_first, _tls_contexts[listener_index]);
    _connections.emplace(id, conn);
    connection_count.store(_connections.size());
    if (!ip.empty()) {
      ++_per_ip[ip];
      _ip_of.emplace(id, ip);
    }
    lg.debug("accepted connection {} from {} on {}", id, peer, spec.name);
    on_connection_thread(conn, [conn] { conn->start(); });
    // max.connection.creation.rate: over it, this listener accepts nothing for the throttle time.
    const bool exempt = std::find(opts.rate_exempt_listeners.begin(), opts.rate_exempt_listeners.end(), spec.name) !=
                        opts.rate_exempt_listeners.end();
    if (opts.connection_creation_rate_max > 0 && !exempt) {
      const int64_t now_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(steady::now().time_since_epoch()).count();
      const int64_t window_ms = opts.quota_window_ms * opts.quota_window_num;
      const int64_t wait_ms = std::min(
          _creation_rate.record_and_throttle_ms(1.0, opts.connection_creation_rate_max, now_ms), window_ms);
      if (wait_ms > 0) {
        lg.info("listener {}: max.connection.creation.rate {}/s reached, accepting again in {} ms", spec.name,
                opts.connection_creation_rate_max, wait_ms);
        // In steps, so that a stop does not wait for the end of the throttle.
        const auto until = steady::now() + std::chrono::milliseconds(wait_ms);
        while (!_stopped && steady::now() < until) {
          backoff.expires_at(std::min(until, steady::now() + std::chrono::milliseconds(100)));
          co_await backoff.async_wait(use_tuple);
        }
      }
    }
  }
}

void server_core::hold_then_close(tcp::socket socket, int64_t ms) {
  constexpr size_t held_sockets_max = 1000;
  if (_held_sockets >= held_sockets_max) {
    boost::system::error_code ec;
    socket.close(ec);
    closed++;
    return;
  }
  ++_held_sockets;
  auto self = shared_from_this();
  asio::co_spawn(
      io,
      [self, s = std::move(socket), ms]() mutable -> asio::awaitable<void> {
        asio::steady_timer t(self->io, std::chrono::milliseconds(ms));
        co_await t.async_wait(use_tuple);
        boost::system::error_code ec;
        s.close(ec);
        self->closed++;
        --self->_held_sockets;
      },
      asio::detached);
}

asio::awaitable<void> server_core::tls_reload_loop() {
  auto self = shared_from_this();
  auto& lg = gregor::log::get("net");
  while (!_stopped) {
    _tls_reload_timer->expires_after(std::chrono::milliseconds(opts.tls_reload_check_ms));
    co_await _tls_reload_timer->async_wait(use_tuple);
    if (_stopped) co_return;
    for (size_t i = 0; i < _tls_contexts.size(); ++i) {
      const auto& spec = opts.listeners[i];
      if (!_tls_contexts[i] || !_tls_rebuild[i] || _tls_watched_files[i].empty()) continue;
      auto now = tls_file_states(_tls_watched_files[i]);
      if (now == _tls_file_states[i]) continue;
      // Remember this version even if it fails to load: a fixed file is a new change.
      _tls_file_states[i] = now;
      auto ctx = _tls_rebuild[i]();
      if (!ctx) {
        lg.error("listener {}: TLS key store or trust store changed but cannot be loaded, keeping the previous "
                 "certificates: {}",
                 spec.name, ctx.error());
        continue;
      }
      _tls_contexts[i] = std::move(*ctx);
      lg.info("listener {}: reloaded TLS certificates ({}); new connections use them", spec.name,
              fmt::join(_tls_watched_files[i], ", "));
    }
  }
}

void server_core::stop_accepting() {
  _stopped = true;
  if (_tls_reload_timer) _tls_reload_timer->cancel();
  boost::system::error_code ec;
  for (auto& a : _acceptors) a.close(ec);
}

bool server_core::all_idle() const {
  return std::all_of(_connections.begin(), _connections.end(),
                     [](const auto& kv) { return kv.second->idle(); });
}

asio::awaitable<void> server_core::drain_and_close(int64_t deadline_ms) {
  auto self = shared_from_this();
  _draining = true;
  asio::steady_timer deadline(io);
  deadline.expires_after(std::chrono::milliseconds(deadline_ms));
  _drain_timer = &deadline;
  {
    pointer_reset reset{_drain_timer};
    // on_connection_idle() cancels the wait; the expiry stays, so re-waiting keeps the deadline.
    while (!all_idle() && steady::now() < deadline.expiry()) {
      co_await deadline.async_wait(use_tuple);
    }
  }
  if (!all_idle()) {
    gregor::log::get("net").warn("drain deadline of {} ms passed with requests in flight",
                                 deadline_ms);
  }
  close_all("server shutting down");
  if (!connections_on_io_thread()) {
    // The closes run on the network threads: wait (a bounded while) until they are all done, so
    // that the caller finds every connection closed and on_close delivered.
    asio::steady_timer closing(io);
    closing.expires_after(std::chrono::seconds(5));
    _drain_timer = &closing;
    pointer_reset reset{_drain_timer};
    while (!_connections.empty() && steady::now() < closing.expiry()) {
      co_await closing.async_wait(use_tuple);
    }
  }
  _draining = false;
}

void server_core::close_all(const std::string& reason) {
  stop_accepting();
  // close() removes the connection from the table, so iterate over a copy.
  std::vector<std::shared_ptr<connection>> all;
  all.reserve(_connections.size());
  for (auto& kv : _connections) all.push_back(kv.second);
  for (auto& c : all) {
    on_connection_thread(c, [c, reason] { c->close(reason, spdlog::level::info); });
  }
  std::lock_guard lk(_pool_mu);
  _pool_waiters.clear();
}

bool server_core::pool_try_acquire(size_t bytes) {
  std::lock_guard lk(_pool_mu);
  if (_pool_used_bytes != 0 && _pool_used_bytes + bytes > opts.request_memory_bytes_max) {
    return false;
  }
  _pool_used_bytes += bytes;
  return true;
}

size_t server_core::pool_used_bytes() const {
  std::lock_guard lk(_pool_mu);
  return _pool_used_bytes;
}

void server_core::pool_wait(const std::shared_ptr<connection>& conn) {
  std::lock_guard lk(_pool_mu);
  _pool_waiters.push_back(conn);
}

void server_core::pool_release(size_t bytes) {
  std::vector<std::weak_ptr<connection>> waiters;
  {
    std::lock_guard lk(_pool_mu);
    GREGOR_ASSERT(bytes <= _pool_used_bytes);
    _pool_used_bytes -= bytes;
    if (_pool_waiters.empty()) return;
    waiters = std::move(_pool_waiters);
    _pool_waiters.clear();
  }
  for (auto& w : waiters) {
    auto c = w.lock();
    if (!c) continue;
    on_connection_thread(c, [c] { c->wake_reader(); });
  }
}

void server_core::on_connection_closed(uint64_t id) {
  on_io_thread([self = shared_from_this(), id] { self->forget_connection(id); });
}

void server_core::forget_connection(uint64_t id) {
  if (auto it = _ip_of.find(id); it != _ip_of.end()) {
    auto count = _per_ip.find(it->second);
    if (count != _per_ip.end() && --count->second == 0) _per_ip.erase(count);
    _ip_of.erase(it);
  }
  _connections.erase(id);
  connection_count.store(_connections.size());
  if (_drain_timer != nullptr && _draining) _drain_timer->cancel();
}

void server_core::on_connection_idle() {
  on_io_thread([self = shared_from_this()] {
    if (self->_drain_timer != nullptr) self->_drain_timer->cancel();
  });
}

}  // namespace gregor::net::detail
