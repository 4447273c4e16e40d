#pragma once
// loop_lag: how late the io thread runs what is due, measured as a timer's lateness. Every
// `period` a steady_timer is armed; when it fires, the time past its expiry is how long the thread
// was busy with something else (a long handler, a synchronous disk call, a burst of completions).
// Reported in /metrics as the histogram `gregor_io_loop_lag_seconds`, so a latency stall can be
// told apart: a request that waited on the loop shows here, one that waited on a replica or the
// disk writer does not. A lag over `warn_after` is also logged (at most once per 10 s) with its
// length.
//
// Threading: the io thread only; start() and stop() are called there.
#include <chrono>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gregor/metrics/registry.h"

namespace gregor::server {

class loop_lag {
 public:
  loop_lag(boost::asio::io_context& io, metrics::registry& registry,
           std::chrono::milliseconds period = std::chrono::milliseconds(50),
           std::chrono::milliseconds warn_after = std::chrono::milliseconds(500));
  ~loop_lag();

  void start();
  void stop();

  // The buckets of gregor_io_loop_lag_seconds: 100 µs .. 5 s.
  static std::vector<double> buckets();

 private:
  struct state;
  std::shared_ptr<state> _s;
};

}  // namespace gregor::server
