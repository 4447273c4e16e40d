#pragma once
// Private to src/net: the state shared by tcp_server, its acceptors and its connections.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gregor/base/sampled_rate.h"
#include "gregor/net/tcp_server.h"
#include "ip_connection_rates.h"

namespace gregor::net::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using steady = std::chrono::steady_clock;

class connection;

// Owns the acceptors, the table of live connections, the request-memory pool, the counters and
// the network threads. Shared (by shared_ptr) between tcp_server and every connection, so a
// connection's coroutines never touch freed server state.
// Threads: the io thread (the caller's io_context, `io`) runs the acceptors, the table, the drain
// and every handler call. With server_options::network_threads > 0, connections live on network
// threads (each its own io_context, picked round robin at accept): their sockets' reads and
// writes, framing, TLS and timers. Thread-safe: the pool (a mutex), the atomics, on_io_thread,
// on_connection_closed, on_connection_idle, draining(). Everything else is the io thread's.
// Invariants: pool_used_bytes == sum of sizes of frames read and not yet answered; a connection
// is in _connections exactly while it is open.
class server_core : public std::enable_shared_from_this<server_core> {
 public:
  server_core(asio::io_context& io, server_options opts, frame_handler& handler);

  ~server_core();
  result<void, std::string> start();
  void stop_accepting();
  // Called by ~tcp_server: closes every connection on its own thread, stops and joins the
  // network threads and drops what they still held, so that no connection outlives its
  // network io_context.
  void shut_down();

  // Network threads. network_io() is the io_context the next accepted connection lives on.
  size_t network_threads() const { return _net_ios.size(); }
  asio::io_context& network_io();
  // Runs fn on the io thread: now when the caller is the io thread's connection (no network
  // threads), else posted.
  template <class F>
  void on_io_thread(F&& fn) {
    if (_net_ios.empty()) {
      fn();
    } else {
      asio::post(io, std::forward<F>(fn));
    }
  }
  // True without network threads: connections run on the io thread.
  bool connections_on_io_thread() const { return _net_ios.empty(); }
  // Runs fn on the thread of connection `conn`: now when that is the io thread (no network
  // threads; the caller is then on it too), else posted to the connection's executor.
  template <class Conn, class F>
  void on_connection_thread(const std::shared_ptr<Conn>& conn, F&& fn) {
    if (connections_on_io_thread()) {
      fn();
    } else {
      asio::post(conn->executor(), std::forward<F>(fn));
    }
  }
  // Responses done with (written, or never to be): their memory (Fetch leases, pooled buffers)
  // belongs to the io thread's modules, so it is freed there, in one hand-off for all of them.
  void release_on_io_thread(std::vector<frame_outcome> outcomes) {
    if (outcomes.empty() || connections_on_io_thread()) return;
    asio::post(io, [o = std::move(outcomes)]() {});
  }
  asio::awaitable<void> drain_and_close(int64_t deadline_ms);
  void close_all(const std::string& reason);

  // Request-memory pool. try_acquire succeeds when the frame fits or nothing is in flight (so one
  // frame of request_bytes_max always fits). A refused connection registers as a waiter and is
  // woken on every release.
  bool pool_try_acquire(size_t bytes);
  void pool_wait(const std::shared_ptr<connection>& conn);
  void pool_release(size_t bytes);
  size_t pool_used_bytes() const;

  // tcp_server::update_tls.
  bool update_tls(const std::string& listener, std::shared_ptr<asio::ssl::context> tls,
                  std::vector<std::string> watched_files,
                  std::function<result<std::shared_ptr<asio::ssl::context>, std::string>()> rebuild);

  void on_connection_closed(uint64_t id);  // any thread
  void on_connection_idle();  // a connection has nothing in flight: wake a drain in progress
  bool draining() const { return _draining.load(std::memory_order_relaxed); }

  asio::io_context& io;
  const server_options opts;
  frame_handler& handler;

  std::vector<uint16_t> ports;  // written by start() only
  std::atomic<size_t> connection_count{0};
  std::atomic<uint64_t> frames_in{0}, bytes_in{0}, bytes_out{0}, accepted{0}, closed{0},
      rejected_frames{0};

 private:
  asio::awaitable<void> accept_loop(size_t listener_index);
  // Connection limits: "" when a connection from `ip` may open, else why not (logged).
  std::string per_ip_refusal(const std::string& ip) const;
  // KIP-612: holds a connection over its address's connection_creation_rate for `ms`, then
  // closes it (Kafka's throttledSockets), unless too many are held already.
  void hold_then_close(tcp::socket socket, int64_t ms);
  // Polls the TLS listeners' watched files every opts.tls_reload_check_ms; a changed file
  // rebuilds that listener's context (kept on failure).
  asio::awaitable<void> tls_reload_loop();
  void start_tls_reload();  // once, when a listener first has files to watch
  bool all_idle() const;

  std::vector<tcp::acceptor> _acceptors;
  // Per listener: the TLS context new connections use (null = plaintext), the files its reload
  // watches and their last seen state ("mtime:size" per file), and how it is rebuilt (from
  // opts.listeners, replaced by update_tls).
  std::vector<std::shared_ptr<asio::ssl::context>> _tls_contexts;
  std::vector<std::vector<std::string>> _tls_watched_files;
  std::vector<std::vector<std::string>> _tls_file_states;
  std::vector<std::function<result<std::shared_ptr<asio::ssl::context>, std::string>()>> _tls_rebuild;
  bool _stopped = false;
  std::unique_ptr<asio::steady_timer> _tls_reload_timer;  // cancelled by stop_accepting()
  std::unordered_map<uint64_t, std::shared_ptr<connection>> _connections;
  uint64_t _next_connection_id = 1;
  // Connection limits (server_options::connections_per_ip_max, connection_creation_rate_max).
  std::unordered_map<std::string, size_t> _per_ip;     // open connections per client address
  std::unordered_map<uint64_t, std::string> _ip_of;    // connection id -> its address
  sampled_rate _creation_rate;
  ip_connection_rates _ip_rates;
  size_t _held_sockets = 0;  // connections held by hold_then_close, at most held_sockets_max
  void forget_connection(uint64_t id);  // on the io thread
  mutable std::mutex _pool_mu;          // guards _pool_used_bytes and _pool_waiters
  size_t _pool_used_bytes = 0;
  std::vector<std::weak_ptr<connection>> _pool_waiters;
  std::atomic<bool> _draining{false};
  // Network threads (empty: connections live on `io`).
  std::vector<std::unique_ptr<asio::io_context>> _net_ios;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> _net_work;
  std::vector<std::thread> _net_threads;
  size_t _next_net_io = 0;
  asio::steady_timer* _drain_timer = nullptr;  // set while drain_and_close waits
};

}  // namespace gregor::net::detail
