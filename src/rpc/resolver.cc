#include "gregor/rpc/resolver.h"

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gregor::rpc {
namespace asio = boost::asio;

namespace {

// One caller waiting for a lookup: the lookup's thread posts the answer to the caller's executor,
// which stores it and wakes the caller's timer. Only the caller's coroutine (and a handler posted
// to its executor) own a waiter, so its timer is never destroyed on the lookup's thread, nor after
// its io_context is gone: the lookup holds weak references.
struct waiter {
  explicit waiter(asio::any_io_executor ex) : executor(ex), timer(ex) {}
  asio::any_io_executor executor;
  asio::steady_timer timer;
  std::optional<result<host_resolver::addresses, std::string>> answer;
};

}  // namespace

struct host_resolver::state {
  lookup_fn fn;
  int64_t grace_ms;
  mutable std::mutex mu;
  // Per name being looked up: its waiters.
  std::map<std::string, std::vector<std::weak_ptr<waiter>>> in_flight;
  std::map<std::string, addresses> last_good;
};

result<host_resolver::addresses, std::string> host_resolver::system_lookup(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return failure{std::string(::gai_strerror(rc))};
  addresses out;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      asio::ip::address_v4::bytes_type b;
      std::memcpy(b.data(), &sin->sin_addr, b.size());
      out.emplace_back(asio::ip::address_v4(b));
    } else if (a->ai_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr);
      asio::ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &sin6->sin6_addr, b.size());
      out.emplace_back(asio::ip::address_v6(b, sin6->sin6_scope_id));
    }
  }
  ::freeaddrinfo(res);
  if (out.empty()) return failure{std::string("no addresses")};
  return out;
}

std::shared_ptr<host_resolver> host_resolver::shared() {
  static const std::shared_ptr<host_resolver> instance = std::make_shared<host_resolver>();
  return instance;
}

host_resolver::host_resolver(lookup_fn fn, int64_t stale_grace_ms) : _state(std::make_shared<state>()) {
  _state->fn = std::move(fn);
  _state->grace_ms = std::max<int64_t>(stale_grace_ms, 0);
}

host_resolver::~host_resolver() = default;

std::optional<host_resolver::addresses> host_resolver::cached(const std::string& host) const {
  std::lock_guard lock(_state->mu);
  auto it = _state->last_good.find(host);
  if (it == _state->last_good.end()) return std::nullopt;
  return it->second;
}

size_t host_resolver::lookups_in_flight() const {
  std::lock_guard lock(_state->mu);
  return _state->in_flight.size();
}

asio::awaitable<result<host_resolver::addresses, std::string>> host_resolver::resolve(
    asio::any_io_executor ex, std::string host, std::chrono::steady_clock::time_point deadline) {
  boost::system::error_code ec;
  const auto literal = asio::ip::make_address(host, ec);
  if (!ec) co_return addresses{literal};

  auto w = std::make_shared<waiter>(ex);
  std::optional<addresses> stale;
  {
    std::lock_guard lock(_state->mu);
    if (auto it = _state->last_good.find(host); it != _state->last_good.end()) stale = it->second;
    auto [it, fresh] = _state->in_flight.try_emplace(host);
    it->second.push_back(w);
    if (fresh) {
      // The worker holds the state, not this object: it may finish after the resolver is gone.
      std::thread([st = _state, host] {
        auto r = st->fn(host);
        std::vector<std::weak_ptr<waiter>> waiters;
        {
          std::lock_guard lock(st->mu);
          if (r) st->last_good[host] = *r;
          auto it = st->in_flight.find(host);
          if (it != st->in_flight.end()) {
            waiters = std::move(it->second);
            st->in_flight.erase(it);
          }
        }
        for (auto& weak : waiters) {
          auto w = weak.lock();
          if (!w) continue;  // its caller is gone, and perhaps its io_context with it
          auto ex = w->executor;
          // The handler takes the only reference this thread had: the waiter ends on its executor.
          asio::post(ex, [w = std::move(w), r] {
            w->answer = r;
            w->timer.cancel();
          });
        }
      }).detach();
    }
  }
  const auto now = std::chrono::steady_clock::now();
  const auto first_wait = stale ? std::min(deadline, now + std::chrono::milliseconds(_state->grace_ms)) : deadline;
  w->timer.expires_at(first_wait);
  if (!w->answer) co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (w->answer) co_return std::move(*w->answer);
  {
    // Leave the lookup: its answer must not be posted to an executor that may be gone by then.
    std::lock_guard lock(_state->mu);
    if (auto it = _state->in_flight.find(host); it != _state->in_flight.end())
      std::erase_if(it->second, [&](const std::weak_ptr<waiter>& x) {
        auto s = x.lock();
        return !s || s == w;
      });
  }
  // An answer posted before we left runs later and finds w alive (the posted handler holds it).
  if (stale) co_return std::move(*stale);
  co_return failure{std::string("name lookup timed out")};
}

}  // namespace gregor::rpc
