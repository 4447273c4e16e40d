#pragma once
// Private to src/net: one accepted TCP connection.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/common.h>

#include "server_core.h"

namespace gregor::net::detail {

// One client connection: its socket, read-ahead, the ordered queue of request slots, two
// coroutines and a timer on the connection's network thread (server_core::network_io: one of the
// network threads, or the io thread itself when there are none). Handler calls run on the io
// thread; their outcomes come back to the network thread (finish_handler):
//  - read_loop: frames the byte stream, takes pool memory, starts one handler call per frame on
//    the io thread (in frame order: the io_context runs posted work first in, first out);
//    pauses while the connection has inflight_per_connection_max slots or too many unwritten
//    response bytes (backpressure), or while the server drains.
//  - write_loop: writes ready responses strictly in slot (= request) order, gathering several
//    into one write.
//  - watchdog (a timer with a completion handler): enforces the idle, partial-frame and
//    write-stall deadlines.
// On a TLS listener the read loop first handshakes (bounded by the partial-frame timeout); all
// reads and writes then go through the ssl::stream layered on the socket. Plaintext connections
// branch once per I/O call and never touch the TLS code.
// Kept alive by shared_ptr from the server's table, each of its coroutines, the pending watchdog
// wait and the outcomes posted back to it. A handler call on the io thread holds only a weak
// reference (and the shared connection_info), so nothing on the io thread outlives the network
// thread's io_context with a socket of it.
// Invariant: after close() the socket is closed, the connection is out of the server table and
// nothing is written afterwards. on_close is called exactly once, when the connection is closed
// and none of its handler calls is still running (a frame read just before the peer closed may
// still be handled; its handler must not find the connection's state already dropped).
class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(std::shared_ptr<server_core> core, tcp::socket socket, connection_info info,
             bool authenticate_first = false,
             std::shared_ptr<asio::ssl::context> tls = nullptr);
  void start();
  // Idempotent; logs the reason once at `level`.
  void close(const std::string& reason, spdlog::level::level_enum level);
  // Thread-safe: no request in flight and nothing left to write.
  bool idle() const { return _idle.load(std::memory_order_acquire); }
  // Bytes read ahead of the frame being parsed: a size prefix and, with it, small frames (copied
  // out whole) or the head of a large one (the rest is read straight into the frame's buffer).
  // Inline, so an idle connection holds no read buffer at all; see the README for the trade.
  static constexpr size_t read_ahead_bytes = 512;
  // On the connection's thread.
  void wake_reader() { _read_signal.cancel(); }
  const connection_info& info() const { return _shared->info; }
  asio::any_io_executor executor() { return _socket.get_executor(); }

 private:
  struct slot {
    bool ready = false;
    frame_outcome outcome;
    std::array<uint8_t, 4> size_prefix{};
  };

  asio::awaitable<void> read_loop();
  asio::awaitable<void> write_loop();
  void arm_watchdog();
  void on_watchdog();
  // Starts the handler call for one frame on the io thread; its outcome comes back through
  // finish_handler on this connection's thread.
  void start_handler(std::shared_ptr<slot> s, std::vector<uint8_t> frame, size_t pool_bytes);
  void finish_handler(const std::shared_ptr<slot>& s, frame_outcome out);
  void update_idle() { _idle.store(_slots.empty() && !_writing, std::memory_order_release); }
  // Reads more bytes into _rbuf (called with fewer than 4 bytes buffered); false (connection
  // closed, reason logged) on error/EOF.
  asio::awaitable<bool> fill_buffer();
  bool must_pause_reading() const;
  void set_read_deadline(steady::time_point deadline);
  void begin_partial_frame();
  bool check_frame_size(int32_t size_bytes, const uint8_t* raw);
  // TLS: refuses non-TLS first bytes, handshakes, records the peer's subject. False: closed.
  asio::awaitable<bool> tls_handshake();
  // TLS: writes the gather list, coalescing small buffers into TLS-record-sized writes.
  asio::awaitable<std::pair<boost::system::error_code, size_t>> tls_write_gathered();
  size_t buffered() const { return _rend - _rbegin; }
  // KIP-219: stops reading until now + ms (a throttled client's channel is muted); a later,
  // longer mute extends it.
  void mute_for(int64_t ms);

  std::shared_ptr<server_core> _core;
  tcp::socket _socket;
  // TLS listeners only (null on plaintext): the context (kept alive for the stream) and the
  // stream over _socket.
  std::shared_ptr<asio::ssl::context> _tls_context;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> _tls;
  bool _handshaking = false;
  std::vector<uint8_t> _tls_stage;  // coalesced small buffers of a gathered TLS write
  // Shared with the handler calls on the io thread: the connection's info (read-only once the
  // TLS handshake is done) and the count of calls running, so that on_close comes exactly once,
  // after the close and the last call, even when the connection itself is gone by then.
  struct shared_state {
    connection_info info;
    std::atomic<size_t> handlers_running{0};
    std::atomic<bool> closed{false};
    std::atomic<bool> on_close_sent{false};
  };
  std::shared_ptr<shared_state> _shared;
  // Posts (or makes) the on_close call once both the connection is closed and no handler call
  // runs; called by close() and by every finished call.
  static void maybe_notify_closed(const std::shared_ptr<server_core>& core,
                                  const std::shared_ptr<shared_state>& shared);
  bool _closed = false;
  std::atomic<bool> _idle{true};  // _slots.empty() && !_writing, for drain_and_close
  bool _authenticated;  // false until a SASL listener's connection authenticates

  std::array<uint8_t, read_ahead_bytes> _rbuf;  // read-ahead; [_rbegin, _rend) not yet parsed
  size_t _rbegin = 0, _rend = 0;

  // In request order; popped by write_loop only. A vector (at most inflight_per_connection_max
  // entries, popped from the front): unlike a deque it allocates nothing while empty.
  std::vector<std::shared_ptr<slot>> _slots;
  size_t _unwritten_bytes = 0;               // ready responses not yet written (with prefixes)
  bool _writing = false;
  std::vector<asio::const_buffer> _gather;

  asio::steady_timer _read_signal;   // never expires; cancel() wakes read_loop
  asio::steady_timer _write_signal;  // never expires; cancel() wakes write_loop
  asio::steady_timer _watchdog;
  steady::time_point _read_deadline = steady::time_point::max();
  steady::time_point _write_deadline = steady::time_point::max();
  bool _in_partial_frame = false;
  steady::time_point _last_activity = steady::now();  // last complete request or write

  // Client quota throttling (mute_for): no reads before _muted_until; the timer wakes the reader.
  steady::time_point _muted_until = steady::time_point::min();
  std::shared_ptr<asio::steady_timer> _mute_timer;
};

}  // namespace gregor::net::detail
