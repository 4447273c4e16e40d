#include "gregor/rpc/node_pool.h"

#include <algorithm>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>

#include "gregor/base/log.h"

namespace gregor::rpc {
namespace asio = boost::asio;

namespace {
spdlog::logger& logger() {
  return log::get("rpc");
}
}  // namespace

node_pool::node_pool(asio::any_io_executor executor, pool_options opts)
    : _executor(std::move(executor)), _opts(std::move(opts)), _rng(_opts.rng_seed) {
  _opts.connection.client_id = _opts.client_id;
}

node_pool::~node_pool() = default;

rpc_error node_pool::stopped_error(node_id node) const {
  return rpc_error{
      rpc_error_kind::stopped,
      fmt::format("node {}: the {} connection pool is stopped", node.value(), _opts.client_id)};
}

void node_pool::retire(std::shared_ptr<connection> conn, rpc_error why) {
  conn->close(std::move(why));
  std::erase_if(_retired, [](const auto& c) { return c->finished(); });
  _retired.push_back(std::move(conn));
}

void node_pool::set_endpoint(node_id node, endpoint ep) {
  auto& state = _nodes[node];
  if (!state) state = std::make_shared<node_state>();
  if (state->generation != 0 && state->ep == ep) return;
  const bool changed = state->generation != 0;
  state->ep = std::move(ep);
  ++state->generation;
  if (auto old = std::move(state->conn)) {
    auto why =
        old->make_error(rpc_error_kind::disconnected,
                        fmt::format("the node moved to {}:{}", state->ep.host, state->ep.port));
    retire(std::move(old), std::move(why));
  }
  state->connecting = false;
  state->failures = 0;
  state->next_attempt = {};
  state->last_error.reset();
  state->attempt_seq = state->failed_seq = 0;
  if (changed)
    logger().info("node {} is now at {}:{}", node.value(), state->ep.host, state->ep.port);
  state->changed.notify_all();
}

void node_pool::remove_node(node_id node) {
  auto it = _nodes.find(node);
  if (it == _nodes.end()) return;
  auto state = std::move(it->second);
  _nodes.erase(it);
  state->removed = true;
  ++state->generation;
  if (auto old = std::move(state->conn)) {
    auto why = old->make_error(rpc_error_kind::disconnected, "the node was removed");
    retire(std::move(old), std::move(why));
  }
  state->changed.notify_all();
}

std::optional<endpoint> node_pool::endpoint_of(node_id node) const {
  auto it = _nodes.find(node);
  if (it == _nodes.end()) return std::nullopt;
  return it->second->ep;
}

int64_t node_pool::backoff_remaining_ms(node_id node) const {
  auto it = _nodes.find(node);
  if (it == _nodes.end()) return 0;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      it->second->next_attempt - std::chrono::steady_clock::now());
  return std::max<int64_t>(0, left.count());
}

uint32_t node_pool::failed_attempts(node_id node) const {
  auto it = _nodes.find(node);
  return it == _nodes.end() ? 0 : it->second->failures;
}

void node_pool::note_failure(node_state& state, rpc_error error, steady_time at) {
  ++state.failures;
  const int64_t delay_ms = backoff_delay_ms(_opts.backoff, state.failures, _rng);
  state.next_attempt = at + std::chrono::milliseconds(delay_ms);
  logger().debug("{}; next attempt in {} ms", error.message, delay_ms);
  state.last_error = std::move(error);
}

asio::awaitable<result<std::shared_ptr<connection>, rpc_error>> node_pool::connection_for(
    node_id node, steady_time deadline) {
  while (true) {
    if (_stopped) co_return failure{stopped_error(node)};
    auto it = _nodes.find(node);
    if (it == _nodes.end())
      co_return failure{rpc_error{rpc_error_kind::unknown_node,
                                  fmt::format("node {} has no known endpoint", node.value())}};
    auto state = it->second;
    if (state->conn && state->conn->is_closed() && !state->connecting) {
      // It dropped since it was last used: back off as after a failed attempt.
      auto dropped = std::move(state->conn);
      note_failure(*state, dropped->close_error(), dropped->closed_at());
    }
    if (state->conn && state->conn->is_ready()) co_return state->conn;

    const auto now = std::chrono::steady_clock::now();
    if (state->connecting) {
      if (now >= deadline)
        co_return failure{
            rpc_error{rpc_error_kind::timeout,
                      fmt::format("node {} ({}:{}): not connected before the deadline",
                                  node.value(), state->ep.host, state->ep.port)}};
      const uint64_t generation = state->generation;
      const uint64_t seq = state->attempt_seq;
      co_await state->changed.wait_until(deadline);
      // The attempt we waited for failed: its error is ours too.
      if (state->generation == generation && state->failed_seq == seq && state->last_error)
        co_return failure{*state->last_error};
      continue;
    }
    if (now < state->next_attempt) {
      if (state->next_attempt >= deadline) {
        const auto left_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(state->next_attempt - now)
                .count();
        co_return failure{
            rpc_error{rpc_error_kind::connect_failed,
                      fmt::format("{} (reconnect back-off: next attempt in {} ms)",
                                  state->last_error ? state->last_error->message
                                                    : fmt::format("node {}", node.value()),
                                  left_ms)}};
      }
      co_await state->changed.wait_until(state->next_attempt);
      continue;
    }
    state->connecting = true;
    ++state->attempt_seq;
    ++_attempts_running;
    ++_connect_attempts;
    asio::co_spawn(_executor, attempt(state, node), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          logger().error("connect attempt failed with an exception: {}", ex.what());
        }
      }
      if (--_attempts_running == 0) _idle.notify_all();
    });
  }
}

asio::awaitable<void> node_pool::attempt(std::shared_ptr<node_state> state, node_id node) {
  const uint64_t generation = state->generation;
  const uint64_t seq = state->attempt_seq;
  const auto current = [&] { return !_stopped && state->generation == generation; };
  if (!current()) co_return;
  auto conn = connection::create(_executor, node, state->ep, _opts.connection);
  state->conn = conn;
  auto opened = co_await conn->open();
  if (current()) {
    state->connecting = false;
    if (opened) {
      state->failures = 0;
      state->last_error.reset();
    } else {
      state->conn = nullptr;
      note_failure(*state, opened.error(), std::chrono::steady_clock::now());
      state->failed_seq = seq;
    }
    state->changed.notify_all();
    if (opened) co_return;
  }
  // Failed or superseded: wait for its coroutines so stop() never leaves one behind.
  co_await conn->stop();
}

asio::awaitable<void> node_pool::stop() {
  _stopped = true;
  std::vector<std::shared_ptr<connection>> conns = _retired;
  for (auto& [node, state] : _nodes) {
    if (state->conn) conns.push_back(state->conn);
    state->changed.notify_all();
  }
  for (auto& c : conns) co_await c->stop();
  while (_calls > 0 || _attempts_running > 0) co_await _idle.wait_until(steady_time::max());
  _retired.clear();
}

}  // namespace gregor::rpc
