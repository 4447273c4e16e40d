#pragma once
// Private to src/net: the state shared by tcp_server, its acceptors and its connections.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
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

// Owns the acceptors, the table of live connections, the request-memory pool and the counters.
// Shared (by shared_ptr) between tcp_server and every connection, so a connection's coroutines
// never touch freed server state. Used on the io_context thread only, except the atomics.
// Invariants: pool_used_bytes == sum of sizes of frames read and not yet answered; a connection
// is in _connections exactly while it is open.
class server_core : public std::enable_shared_from_this<server_core> {
 public:
  server_core(asio::io_context& io, server_options opts, frame_handler& handler);

  result<void, std::string> start();
  void stop_accepting();
  asio::awaitable<void> drain_and_close(int64_t deadline_ms);
  void close_all(const std::string& reason);

  // Request-memory pool. try_acquire succeeds when the frame fits or nothing is in flight (so one
  // frame of request_bytes_max always fits). A refused connection registers as a waiter and is
  // woken on every release.
  bool pool_try_acquire(size_t bytes);
  void pool_wait(const std::shared_ptr<connection>& conn);
  void pool_release(size_t bytes);
  size_t pool_used_bytes() const { return _pool_used_bytes; }

  // tcp_server::update_tls.
  bool update_tls(const std::string& listener, std::shared_ptr<asio::ssl::context> tls,
                  std::vector<std::string> watched_files,
                  std::function<result<std::shared_ptr<asio::ssl::context>, std::string>()> rebuild);

  void on_connection_closed(uint64_t id);
  void on_connection_idle();  // a connection has nothing in flight: wake a drain in progress
  bool draining() const { return _draining; }

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
  size_t _pool_used_bytes = 0;
  std::vector<std::weak_ptr<connection>> _pool_waiters;
  bool _draining = false;
  asio::steady_timer* _drain_timer = nullptr;  // set while drain_and_close waits
};

}  // namespace gregor::net::detail
