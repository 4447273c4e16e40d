#pragma once
// rpc::node_pool: the connections of one client role ("gregor-broker-1" forwarding to the
// controller, "gregor-raft-1" between voters, a follower's fetchers) to other nodes, keyed by
// node id. The caller tells it each node's endpoint as metadata changes; a call to a node reuses
// its open connection, or opens one on demand.
//
// Reconnects: after a failed attempt (or a dropped connection) the next attempt waits an
// exponential, jittered back-off (backoff.h; Kafka's reconnect.backoff.ms / .max.ms), reset by a
// successful open. A call made during back-off waits it out when its own deadline allows, else
// fails at once with connect_failed naming the last error. Every caller waiting on an attempt
// gets that attempt's error. Changing a node's endpoint closes its connection (in-flight callers
// get disconnected) and clears its back-off.
//
// Thread: everything on the io_context thread of the executor given to the constructor.
// stop() closes every connection (callers get `stopped`), and returns once every call, connect
// attempt and connection coroutine has finished; calls after stop() fail with `stopped`. The pool
// must outlive its calls: co_await stop() before destroying it.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "gregor/base/result.h"
#include "gregor/base/types.h"
#include "gregor/rpc/backoff.h"
#include "gregor/rpc/connection.h"
#include "gregor/rpc/rpc_error.h"
#include "gregor/rpc/wait_list.h"

namespace gregor::rpc {

struct pool_options {
  std::string client_id = "gregor";      // sent in every request header of this pool
  connection_options connection;         // its client_id is replaced by the one above
  backoff_policy backoff;                // reconnect.backoff.ms / reconnect.backoff.max.ms
  uint64_t rng_seed = 0x6772'6567'6f72;  // jitter randomness; tests pass their own seed
};

class node_pool {
 public:
  node_pool(boost::asio::any_io_executor executor, pool_options opts);
  node_pool(const node_pool&) = delete;
  node_pool& operator=(const node_pool&) = delete;
  ~node_pool();

  // Adds a node or changes its address (a changed address closes its current connection).
  void set_endpoint(node_id node, endpoint ep);
  // Forgets a node: closes its connection; its callers get disconnected / unknown_node.
  void remove_node(node_id node);
  std::optional<endpoint> endpoint_of(node_id node) const;

  // Sends `req` to `node` (see connection::call). opts.timeout_ms bounds the whole call:
  // connecting, back-off, waiting for a slot and the response.
  template <class Req, class Resp>
  boost::asio::awaitable<result<Resp, rpc_error>> call(node_id node, const Req& req,
                                                       call_options opts = {}) {
    auto r = co_await call_reply<Req, Resp>(node, req, opts);
    if (!r) co_return failure{r.error()};
    co_return std::move(r.value().body);
  }

  template <class Req, class Resp>
  boost::asio::awaitable<result<reply<Resp>, rpc_error>> call_reply(node_id node, const Req& req,
                                                                    call_options opts = {}) {
    call_guard guard(*this);
    const steady_time deadline = std::chrono::steady_clock::now() +
                                 std::chrono::milliseconds(std::max<int64_t>(0, opts.timeout_ms));
    auto conn = co_await connection_for(node, deadline);
    if (!conn) co_return failure{conn.error()};
    opts.timeout_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    // Sending a request that is abandoned at once would only hold a slot for nothing.
    if (opts.timeout_ms <= 0)
      co_return failure{conn.value()->make_error(rpc_error_kind::timeout,
                                                 "connected, but the deadline has passed")};
    co_return co_await conn.value()->template call_reply<Req, Resp>(req, opts);
  }

  // An open connection to `node`, opening one (or waiting for the attempt in progress, or for
  // the back-off to end) before `deadline`.
  boost::asio::awaitable<result<std::shared_ptr<connection>, rpc_error>> connection_for(
      node_id node, steady_time deadline);

  // Milliseconds until the next connect attempt to `node` is allowed (0 = now).
  int64_t backoff_remaining_ms(node_id node) const;
  // Consecutive failed attempts since the last successful open.
  uint32_t failed_attempts(node_id node) const;
  // Connect attempts started, over the pool's life (tests, metrics).
  uint64_t connect_attempts() const { return _connect_attempts; }
  // Calls (call/call_reply) that have not returned yet.
  size_t calls_in_progress() const { return _calls; }

  boost::asio::awaitable<void> stop();
  bool stopped() const { return _stopped; }

 private:
  struct node_state {
    endpoint ep;
    uint64_t generation = 0;  // bumped by set_endpoint/remove_node: a late attempt is discarded
    bool removed = false;
    std::shared_ptr<connection> conn;  // opening (connecting) or open; null when none
    bool connecting = false;
    uint32_t failures = 0;
    steady_time next_attempt{};
    std::optional<rpc_error> last_error;
    uint64_t attempt_seq = 0;  // attempts started (this generation)
    uint64_t failed_seq = 0;   // the attempt_seq of the last failed attempt
    wait_list changed;         // attempt finished, endpoint changed, node removed, pool stopped
  };

  // Counts calls in progress so stop() can wait for them.
  struct call_guard {
    explicit call_guard(node_pool& p) : pool(p) { ++pool._calls; }
    ~call_guard() {
      if (--pool._calls == 0) pool._idle.notify_all();
    }
    node_pool& pool;
  };

  boost::asio::awaitable<void> attempt(std::shared_ptr<node_state> state, node_id node);
  void note_failure(node_state& state, rpc_error error, steady_time at);
  rpc_error stopped_error(node_id node) const;

  // Closes a connection the pool no longer uses; stop() waits for its coroutines.
  void retire(std::shared_ptr<connection> conn, rpc_error why);

  boost::asio::any_io_executor _executor;
  pool_options _opts;
  std::vector<std::shared_ptr<connection>> _retired;
  std::mt19937_64 _rng;
  std::map<node_id, std::shared_ptr<node_state>> _nodes;
  bool _stopped = false;
  size_t _calls = 0;
  size_t _attempts_running = 0;
  uint64_t _connect_attempts = 0;
  wait_list _idle;  // a call or attempt finished
};

}  // namespace gregor::rpc
