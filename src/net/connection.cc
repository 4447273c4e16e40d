#include "connection.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "gregor/base/assert.h"
#include "gregor/base/log.h"
#include "gregor/net/tls.h"

namespace gregor::net::detail {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// A Kafka request header v0 is api_key(2) + api_version(2) + correlation_id(4) + client_id
// length(2): 10 bytes. No valid request frame is shorter.
constexpr int32_t frame_bytes_min = 10;
// Upper bound on buffers in one gathered write (two per response, two more per splice).
constexpr size_t gather_slots_max = 64;
// TLS writes: buffers at least this large go to the stream as they are; smaller ones are copied
// together first, so that a size prefix does not become a TLS record of its own.
constexpr size_t tls_record_bytes = 16 * 1024;

// What the four bytes read as a size probably were, for the log line.
const char* guess_foreign_protocol(const uint8_t* raw) {
  if (raw[0] == 0x16 && raw[1] == 0x03) return " (looks like TLS)";
  auto is_upper_or_space = [](uint8_t c) { return (c >= 'A' && c <= 'Z') || c == ' '; };
  if (std::all_of(raw, raw + 4, is_upper_or_space)) return " (looks like HTTP)";
  return "";
}

}  // namespace

connection::connection(std::shared_ptr<server_core> core, tcp::socket socket, connection_info info,
                       bool authenticate_first, std::shared_ptr<asio::ssl::context> tls)
    : _core(std::move(core)),
      _socket(std::move(socket)),
      _tls_context(std::move(tls)),
      _shared(std::make_shared<shared_state>()),
      _authenticated(!authenticate_first),
      _read_signal(_socket.get_executor()),
      _write_signal(_socket.get_executor()),
      _watchdog(_socket.get_executor()) {
  _shared->info = std::move(info);
  _read_signal.expires_at(steady::time_point::max());
  _write_signal.expires_at(steady::time_point::max());
  if (_tls_context) _tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(_socket, *_tls_context);
}

void connection::start() {
  auto self = shared_from_this();
  // The loops handle every expected failure themselves; anything escaping is a bug, but it must
  // cost only this connection.
  auto on_exit = [self](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      self->close(fmt::format("internal error: {}", ex.what()), spdlog::level::err);
    } catch (...) {
      self->close("internal error", spdlog::level::err);
    }
  };
  asio::co_spawn(_socket.get_executor(), [self]() { return self->read_loop(); }, on_exit);
  asio::co_spawn(_socket.get_executor(), [self]() { return self->write_loop(); }, on_exit);
  arm_watchdog();
}

void connection::close(const std::string& reason, spdlog::level::level_enum level) {
  if (_closed) return;
  _closed = true;
  auto self = shared_from_this();  // the server table may hold the last other reference
  gregor::log::get("net").log(level, "closed connection {} from {} on {}: {}", _shared->info.id,
                              _shared->info.peer, _shared->info.listener_name, reason);
  boost::system::error_code ec;
  _socket.shutdown(tcp::socket::shutdown_both, ec);
  _socket.close(ec);
  _read_signal.cancel();
  _write_signal.cancel();
  _watchdog.cancel();
  if (_mute_timer) _mute_timer->cancel();
  _core->closed++;
  _core->on_connection_closed(_shared->info.id);
  _shared->closed.store(true);
  maybe_notify_closed(_core, _shared);
  // Responses never to be written.
  std::vector<frame_outcome> unwritten;
  for (auto& s : _slots) {
    if (s->ready) unwritten.push_back(std::move(s->outcome));
  }
  _core->release_on_io_thread(std::move(unwritten));
  _writing = false;
  update_idle();
  _core->on_connection_idle();
}

void connection::maybe_notify_closed(const std::shared_ptr<server_core>& core,
                                     const std::shared_ptr<shared_state>& shared) {
  if (!shared->closed.load() || shared->handlers_running.load() != 0) return;
  if (shared->on_close_sent.exchange(true)) return;
  core->on_io_thread([core, shared]() {
    try {
      core->handler.on_close(shared->info);
    } catch (const std::exception& e) {
      gregor::log::get("net").error("on_close for connection {} threw: {}", shared->info.id, e.what());
    } catch (...) {
      gregor::log::get("net").error("on_close for connection {} threw", shared->info.id);
    }
  });
}

bool connection::must_pause_reading() const {
  return _slots.size() >= _core->opts.inflight_per_connection_max ||
         _unwritten_bytes > _core->opts.unwritten_response_bytes_max || _core->draining() ||
         steady::now() < _muted_until;
}

// ---- Client quota throttling (KIP-219): the muted channel. ----
void connection::mute_for(int64_t ms) {
  const auto until = steady::now() + std::chrono::milliseconds(ms);
  if (until <= _muted_until || _closed) return;
  _muted_until = until;
  if (!_mute_timer) _mute_timer = std::make_shared<asio::steady_timer>(_socket.get_executor());
  _mute_timer->expires_at(until);  // cancels a shorter wait in progress
  std::weak_ptr<connection> weak = weak_from_this();
  _mute_timer->async_wait([weak, until](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || self->_closed || self->_muted_until != until) return;
    self->wake_reader();
  });
}
// ---- end of client quota throttling ----

void connection::set_read_deadline(steady::time_point deadline) {
  _read_deadline = deadline;
  if (deadline < _watchdog.expiry()) _watchdog.cancel();  // re-arm earlier
}

void connection::begin_partial_frame() {
  _in_partial_frame = true;
  set_read_deadline(steady::now() +
                    std::chrono::milliseconds(_core->opts.partial_frame_timeout_ms));
}

asio::awaitable<bool> connection::fill_buffer() {
  // At most a partial size prefix is left: move it to the front so the whole buffer is free.
  GREGOR_ASSERT(buffered() < 4);
  if (_rbegin > 0) {
    std::memmove(_rbuf.data(), _rbuf.data() + _rbegin, buffered());
    _rend -= _rbegin;
    _rbegin = 0;
  }
  const auto into = asio::buffer(_rbuf.data() + _rend, _rbuf.size() - _rend);
  auto [ec, n] = _tls ? co_await _tls->async_read_some(into, use_tuple)
                      : co_await _socket.async_read_some(into, use_tuple);
  if (ec) {
    if (!_closed) {
      close(_in_partial_frame ? "peer closed mid-frame (" + ec.message() + ")"
                              : "peer closed (" + ec.message() + ")",
            spdlog::level::debug);
    }
    co_return false;
  }
  _rend += n;
  _core->bytes_in += n;
  co_return true;
}

bool connection::check_frame_size(int32_t size_bytes, const uint8_t* raw) {
  std::string reason;
  if (size_bytes < 0) {
    reason = fmt::format("negative frame size {}", size_bytes);
  } else if (size_bytes < frame_bytes_min) {
    reason = fmt::format("frame size {} is below a minimal request header ({} bytes)", size_bytes,
                         frame_bytes_min);
  } else if (!_authenticated && size_bytes > _core->opts.pre_auth_request_bytes_max) {
    reason = fmt::format("frame size {} before authentication exceeds sasl.server.max.receive.size {}{}",
                         size_bytes, _core->opts.pre_auth_request_bytes_max,
                         guess_foreign_protocol(raw));
  } else if (size_bytes > _core->opts.request_bytes_max) {
    reason = fmt::format("frame size {} exceeds socket.request.max.bytes {}{}", size_bytes,
                         _core->opts.request_bytes_max, guess_foreign_protocol(raw));
  } else {
    return true;
  }
  _core->rejected_frames++;
  close(reason, spdlog::level::warn);
  return false;
}

asio::awaitable<bool> connection::tls_handshake() {
  auto self = shared_from_this();
  _handshaking = true;
  begin_partial_frame();  // the handshake must complete within the partial-frame timeout
  // A TLS connection starts with a handshake record (content type 22); anything else is a
  // plaintext client (or another protocol) on a TLS port, which OpenSSL would only call a
  // "wrong version number". Peek so that the handshake still sees every byte.
  std::array<uint8_t, 4> head{};
  auto [pec, got] = co_await _socket.async_receive(asio::buffer(head), tcp::socket::message_peek, use_tuple);
  if (pec || got == 0) {
    if (!_closed) {
      close("peer closed before the TLS handshake (" + (pec ? pec.message() : std::string("end of stream")) + ")",
            spdlog::level::debug);
    }
    co_return false;
  }
  if (_closed) co_return false;
  if (head[0] != 0x16) {
    const bool kafka_like = head[0] == 0 && got >= 2;  // a Kafka size prefix's first byte
    close(fmt::format("plaintext bytes on a TLS listener{} (first bytes {:02x} {:02x}); the client must use SSL",
                      kafka_like ? " (looks like a plaintext Kafka request)" : "", head[0], got > 1 ? head[1] : 0),
          spdlog::level::warn);
    co_return false;
  }
  auto [ec] = co_await _tls->async_handshake(asio::ssl::stream_base::server, use_tuple);
  if (_closed) co_return false;
  if (ec) {
    // OpenSSL's reason ("certificate verify failed", "no shared cipher", "wrong version number"),
    // and for a refused client certificate, the verification's.
    close("TLS handshake failed: " + tls_handshake_failure(_tls->native_handle(), ec.message()), spdlog::level::warn);
    co_return false;
  }
  X509* peer = SSL_get1_peer_certificate(_tls->native_handle());
  if (peer != nullptr) {
    _shared->info.tls_peer_subject = subject_rfc2253(peer);
    X509_free(peer);
  }
  gregor::log::get("net").debug("connection {} from {} on {}: TLS {} {}{}", _shared->info.id, _shared->info.peer,
                                _shared->info.listener_name, SSL_get_version(_tls->native_handle()),
                                SSL_get_cipher_name(_tls->native_handle()),
                                _shared->info.tls_peer_subject.empty() ? "" : ", client " + _shared->info.tls_peer_subject);
  _handshaking = false;
  _in_partial_frame = false;
  _last_activity = steady::now();
  co_return true;
}

asio::awaitable<std::pair<boost::system::error_code, size_t>> connection::tls_write_gathered() {
  auto self = shared_from_this();
  size_t total = 0;
  size_t i = 0, off = 0;  // next byte to send: _gather[i] at offset off
  _tls_stage.clear();
  _tls_stage.reserve(tls_record_bytes);
  // The staging buffer lives only for this write: an idle TLS connection keeps none.
  struct release_stage {
    std::vector<uint8_t>& v;
    ~release_stage() { std::vector<uint8_t>().swap(v); }
  } release{_tls_stage};
  while (i < _gather.size() || !_tls_stage.empty()) {
    const size_t rest = i < _gather.size() ? _gather[i].size() - off : 0;
    const bool large_next = i < _gather.size() && rest >= tls_record_bytes;
    if (i < _gather.size() && !large_next && _tls_stage.size() < tls_record_bytes) {
      const auto* p = static_cast<const uint8_t*>(_gather[i].data()) + off;
      const size_t take = std::min(rest, tls_record_bytes - _tls_stage.size());
      _tls_stage.insert(_tls_stage.end(), p, p + take);
      off += take;
      if (off == _gather[i].size()) ++i, off = 0;
      if (_tls_stage.size() < tls_record_bytes && i < _gather.size()) continue;
    }
    if (!_tls_stage.empty()) {
      auto [ec, n] = co_await asio::async_write(*_tls, asio::buffer(_tls_stage), use_tuple);
      total += n;
      _tls_stage.clear();
      if (ec) co_return std::pair{ec, total};
      continue;
    }
    // A large buffer and nothing staged: straight from the response's memory.
    const auto big = asio::buffer(static_cast<const uint8_t*>(_gather[i].data()) + off, rest);
    auto [ec, n] = co_await asio::async_write(*_tls, big, use_tuple);
    total += n;
    if (ec) co_return std::pair{ec, total};
    ++i, off = 0;
  }
  co_return std::pair{boost::system::error_code{}, total};
}

asio::awaitable<void> connection::read_loop() {
  auto self = shared_from_this();
  const auto idle_timeout = std::chrono::milliseconds(_core->opts.idle_timeout_ms);
  const auto partial_timeout = std::chrono::milliseconds(_core->opts.partial_frame_timeout_ms);
  if (_tls && !co_await tls_handshake()) co_return;
  while (!_closed) {
    // Backpressure, and no new frames while the server drains. No read deadline meanwhile: the
    // wait is ours, not the client's.
    if (must_pause_reading()) {
      set_read_deadline(steady::time_point::max());
      while (!_closed && must_pause_reading()) co_await _read_signal.async_wait(use_tuple);
      _last_activity = steady::now();  // the pause was ours; idle time starts after it
    }
    if (_closed) break;

    // Size prefix. Until its first byte arrives the idle deadline applies, then the partial one.
    _in_partial_frame = buffered() > 0;
    if (_in_partial_frame) {
      begin_partial_frame();
    } else {
      set_read_deadline(_last_activity + idle_timeout);
    }
    while (buffered() < 4) {
      if (!co_await fill_buffer()) co_return;
      if (!_in_partial_frame && buffered() > 0) begin_partial_frame();
    }
    const uint8_t* raw = _rbuf.data() + _rbegin;
    const int32_t size_bytes = static_cast<int32_t>((uint32_t(raw[0]) << 24) |
                                                    (uint32_t(raw[1]) << 16) |
                                                    (uint32_t(raw[2]) << 8) | uint32_t(raw[3]));
    if (!check_frame_size(size_bytes, raw)) co_return;
    _rbegin += 4;
    const size_t frame_bytes = static_cast<size_t>(size_bytes);

    // Request-memory pool: do not take the body while it would not fit.
    if (!_core->pool_try_acquire(frame_bytes)) {
      set_read_deadline(steady::time_point::max());
      do {
        _core->pool_wait(self);
        co_await _read_signal.async_wait(use_tuple);
        if (_closed) co_return;
      } while (!_core->pool_try_acquire(frame_bytes));
      set_read_deadline(steady::now() + partial_timeout);
    }

    std::vector<uint8_t> frame;
    try {
      frame.resize(frame_bytes);
    } catch (const std::bad_alloc&) {
      _core->pool_release(frame_bytes);
      close(fmt::format("cannot allocate {} bytes for a frame", frame_bytes), spdlog::level::err);
      co_return;
    }
    const size_t from_buffer = std::min(buffered(), frame_bytes);
    std::memcpy(frame.data(), _rbuf.data() + _rbegin, from_buffer);
    _rbegin += from_buffer;
    if (from_buffer < frame_bytes) {
      const auto rest = asio::buffer(frame.data() + from_buffer, frame_bytes - from_buffer);
      auto [ec, n] = _tls ? co_await asio::async_read(*_tls, rest, use_tuple)
                          : co_await asio::async_read(_socket, rest, use_tuple);
      _core->bytes_in += n;
      if (ec) {
        _core->pool_release(frame_bytes);
        if (!_closed) close("peer closed mid-frame (" + ec.message() + ")", spdlog::level::debug);
        co_return;
      }
    }
    if (_closed) {  // e.g. partial-frame timeout fired as the last bytes arrived
      _core->pool_release(frame_bytes);
      co_return;
    }

    // KIP-219: a throttled client's channel is muted. A read already waiting when the mute began
    // may have taken the next request off the socket: it is handled only once the mute ends.
    if (steady::now() < _muted_until) {
      set_read_deadline(steady::time_point::max());
      while (!_closed && steady::now() < _muted_until) co_await _read_signal.async_wait(use_tuple);
      if (_closed) {
        _core->pool_release(frame_bytes);
        co_return;
      }
    }

    _in_partial_frame = false;
    _last_activity = steady::now();
    _core->frames_in++;
    auto s = std::make_shared<slot>();
    _slots.push_back(s);
    update_idle();
    start_handler(std::move(s), std::move(frame), frame_bytes);
  }
}

void connection::start_handler(std::shared_ptr<slot> s, std::vector<uint8_t> frame, size_t pool_bytes) {
  _shared->handlers_running.fetch_add(1);
  // The call holds the connection only weakly: see the class comment.
  std::weak_ptr<connection> weak = weak_from_this();
  auto call = [core = _core, shared = _shared, f = std::move(frame)]() mutable -> asio::awaitable<frame_outcome> {
    co_return co_await core->handler.handle(shared->info, std::move(f));
  };
  auto done = [weak, core = _core, shared = _shared, s = std::move(s), pool_bytes](std::exception_ptr e,
                                                                                  frame_outcome out) mutable {
    core->pool_release(pool_bytes);
    shared->handlers_running.fetch_sub(1);
    maybe_notify_closed(core, shared);
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        out = frame_outcome{frame_outcome::kind::close, {}, fmt::format("handler threw: {}", ex.what())};
      } catch (...) {
        out = frame_outcome{frame_outcome::kind::close, {}, "handler threw a non-std exception"};
      }
    }
    auto self = weak.lock();
    if (!self) return;  // closed and gone: nothing to answer
    // The connection's thread writes the response.
    core->on_connection_thread(self, [self, s = std::move(s), out = std::move(out)]() mutable {
      self->finish_handler(s, std::move(out));
    });
  };
  asio::co_spawn(_core->io, std::move(call), std::move(done));
}

void connection::finish_handler(const std::shared_ptr<slot>& s, frame_outcome out) {
  if (_closed) {
    std::vector<frame_outcome> unwritten;
    unwritten.push_back(std::move(out));
    _core->release_on_io_thread(std::move(unwritten));
    return;
  }
  if (out.authenticated) _authenticated = true;
  if (out.throttle_ms > 0) mute_for(out.throttle_ms);  // client quotas (KIP-219)
  if (out.what == frame_outcome::kind::respond ||
      (out.what == frame_outcome::kind::close && !out.response.empty())) {
    const auto n = static_cast<uint32_t>(out.frame_bytes());
    s->size_prefix = {uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
    _unwritten_bytes += size_t(n) + 4;
  }
  s->outcome = std::move(out);
  s->ready = true;
  _write_signal.cancel();
}

asio::awaitable<void> connection::write_loop() {
  auto self = shared_from_this();
  const auto stall_timeout = std::chrono::milliseconds(_core->opts.idle_timeout_ms);
  while (!_closed) {
    if (_slots.empty() || !_slots.front()->ready) {
      co_await _write_signal.async_wait(use_tuple);
      continue;
    }
    // Gather the run of ready responses at the head, stopping after a close.
    _gather.clear();
    size_t popped = 0, bytes = 0;
    const slot* closing = nullptr;
    for (const auto& s : _slots) {
      if (!s->ready) break;
      // A response with more views than the limit still goes out, alone.
      const size_t slots_needed = 2 + 2 * s->outcome.splices.size();
      if (popped > 0 && _gather.size() + slots_needed > gather_slots_max) break;
      ++popped;
      // A close may carry a last response (a failed SASL authentication's error), written first.
      if (s->outcome.what == frame_outcome::kind::respond ||
          (s->outcome.what == frame_outcome::kind::close && !s->outcome.response.empty())) {
        _gather.push_back(asio::buffer(s->size_prefix));
        const auto& resp = s->outcome.response;
        size_t at = 0;
        for (const auto& sp : s->outcome.splices) {
          if (sp.position > at) _gather.push_back(asio::buffer(resp.data() + at, sp.position - at));
          _gather.push_back(asio::buffer(sp.data, sp.size));
          at = sp.position;
        }
        if (resp.size() > at) _gather.push_back(asio::buffer(resp.data() + at, resp.size() - at));
        bytes += s->outcome.frame_bytes() + 4;
      }
      if (s->outcome.what == frame_outcome::kind::close) {
        closing = s.get();
        break;
      }
    }
    if (!_gather.empty()) {
      _writing = true;
      update_idle();
      _write_deadline = steady::now() + stall_timeout;
      if (_write_deadline < _watchdog.expiry()) _watchdog.cancel();
      auto [ec, n] = _tls ? co_await tls_write_gathered() : co_await asio::async_write(_socket, _gather, use_tuple);
      _writing = false;
      update_idle();
      _write_deadline = steady::time_point::max();
      _core->bytes_out += n;
      if (ec) {
        if (!_closed) close("write failed (" + ec.message() + ")", spdlog::level::debug);
        co_return;
      }
      if (_closed) co_return;
      // Writing counts as activity: push a pending idle deadline back.
      _last_activity = steady::now();
      if (!_in_partial_frame && _read_deadline != steady::time_point::max()) {
        set_read_deadline(_last_activity + stall_timeout);
      }
    }
    if (closing != nullptr) {
      close("handler asked to close: " + closing->outcome.close_reason, spdlog::level::info);
      co_return;
    }
    // Written (one hand-off for the whole gathered write; with no network thread the erase below
    // frees them, on the io thread already).
    if (!_core->connections_on_io_thread()) {
      std::vector<frame_outcome> written;
      written.reserve(popped);
      for (size_t i = 0; i < popped; ++i) written.push_back(std::move(_slots[i]->outcome));
      _core->release_on_io_thread(std::move(written));
    }
    _slots.erase(_slots.begin(), _slots.begin() + static_cast<std::ptrdiff_t>(popped));
    _unwritten_bytes -= bytes;
    update_idle();
    wake_reader();
    if (_slots.empty()) _core->on_connection_idle();
  }
}

void connection::arm_watchdog() {
  // A plain completion handler rather than a coroutine: an idle connection then holds one pending
  // timer wait instead of two coroutine frames. cancel() (an earlier deadline, or close()) completes
  // the wait early; the handler re-arms with the deadlines as they are then.
  _watchdog.expires_at(std::min(_read_deadline, _write_deadline));
  _watchdog.async_wait([self = shared_from_this()](boost::system::error_code) { self->on_watchdog(); });
}

void connection::on_watchdog() {
  if (_closed) return;
  const auto now = steady::now();
  if (now >= _read_deadline) {
    if (!_in_partial_frame && !_slots.empty()) {
      // A request is still being handled (a long poll, say): the connection is not idle.
      _last_activity = now;
      _read_deadline = now + std::chrono::milliseconds(_core->opts.idle_timeout_ms);
    } else if (_handshaking) {
      close(fmt::format("TLS handshake not completed within {} ms (partial frame timeout)",
                        _core->opts.partial_frame_timeout_ms),
            spdlog::level::info);
    } else if (_in_partial_frame) {
      close(fmt::format("frame not completed within {} ms (partial frame timeout)",
                        _core->opts.partial_frame_timeout_ms),
            spdlog::level::info);
    } else {
      close(fmt::format("idle for {} ms (connections.max.idle.ms)", _core->opts.idle_timeout_ms),
            spdlog::level::info);
    }
  } else if (now >= _write_deadline) {
    close(fmt::format("no write progress for {} ms (client not reading responses)",
                      _core->opts.idle_timeout_ms),
          spdlog::level::warn);
  }
  if (!_closed) arm_watchdog();
}

}  // namespace gregor::net::detail
