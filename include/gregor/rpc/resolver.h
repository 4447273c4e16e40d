#pragma once
// rpc::host_resolver: host name lookups for outgoing connections that never wait behind one
// another.
//
// Asio's resolver runs getaddrinfo on one internal thread per io_context, so one slow lookup (a
// stopped container's name under podman's DNS takes seconds per try) delays every other
// connection's lookup, and with it failover. Here:
//   - a numeric host (IPv4/IPv6 literal) never reaches the lookup;
//   - each host name being looked up has its own worker thread (std::thread, detached), so a slow
//     name holds only its own callers; concurrent callers for one name share its lookup, so a dead
//     name retried in a loop costs one thread, not one per try;
//   - the last good addresses of each name are kept: a caller that has them waits at most
//     `stale_grace_ms` for a fresh answer, then gets them (the lookup goes on and refreshes them);
//   - a caller without them waits until its deadline (then "timed out").
// A failed lookup is an error even with addresses kept (the name is gone; the caller retries).
//
// Thread-safety: resolve() may be called from any executor; its completion runs on that
// executor. The lookup function runs on worker threads and must be thread-safe.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "gregor/base/result.h"

namespace gregor::rpc {

class host_resolver {
 public:
  using addresses = std::vector<boost::asio::ip::address>;
  // A blocking lookup of one name: its addresses (non-empty) or why not.
  using lookup_fn = std::function<result<addresses, std::string>(const std::string& host)>;

  // getaddrinfo (AF_UNSPEC, SOCK_STREAM).
  static result<addresses, std::string> system_lookup(const std::string& host);
  // The process-wide resolver over system_lookup (what connections use unless told otherwise).
  static std::shared_ptr<host_resolver> shared();

  explicit host_resolver(lookup_fn fn = &system_lookup, int64_t stale_grace_ms = 1000);
  ~host_resolver();
  host_resolver(const host_resolver&) = delete;
  host_resolver& operator=(const host_resolver&) = delete;

  // The addresses of `host`, by `deadline` at the latest (see above).
  boost::asio::awaitable<result<addresses, std::string>> resolve(
      boost::asio::any_io_executor ex, std::string host, std::chrono::steady_clock::time_point deadline);

  // The last good addresses of `host`, if any (tests, diagnostics).
  std::optional<addresses> cached(const std::string& host) const;
  // Lookups running now (tests).
  size_t lookups_in_flight() const;

 private:
  struct state;
  std::shared_ptr<state> _state;  // shared with the worker threads, which may outlive this
};

}  // namespace gregor::rpc
