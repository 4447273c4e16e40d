#include "loop_lag.h"

#include "gregor/base/log.h"

namespace gregor::server {

struct loop_lag::state : std::enable_shared_from_this<loop_lag::state> {
  state(boost::asio::io_context& io, metrics::histogram& h, std::chrono::milliseconds p, std::chrono::milliseconds w)
      : timer(io), lag(h), period(p), warn_after(w) {}

  void arm() {
    if (stopped) return;
    timer.expires_after(period);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->stopped) return;
      const auto now = std::chrono::steady_clock::now();
      const auto late = now - self->timer.expiry();
      const double seconds = std::chrono::duration<double>(late).count();
      self->lag.observe(seconds < 0 ? 0 : seconds);
      if (late > self->warn_after && now - self->last_warning > std::chrono::seconds(10)) {
        self->last_warning = now;
        log::get("server").warn("the io thread ran {} ms late: requests and timers waited that long",
                                std::chrono::duration_cast<std::chrono::milliseconds>(late).count());
      }
      self->arm();
    });
  }

  boost::asio::steady_timer timer;
  metrics::histogram& lag;
  std::chrono::milliseconds period, warn_after;
  std::chrono::steady_clock::time_point last_warning{};
  bool stopped = false;
};

std::vector<double> loop_lag::buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

loop_lag::loop_lag(boost::asio::io_context& io, metrics::registry& registry, std::chrono::milliseconds period,
                   std::chrono::milliseconds warn_after)
    : _s(std::make_shared<state>(
          io,
          registry.histogram("gregor_io_loop_lag_seconds",
                             "How late the io thread ran a timer due every 50 ms: the time requests and timers "
                             "waited for the thread.",
                             {}, buckets()),
          period, warn_after)) {}

loop_lag::~loop_lag() { stop(); }

void loop_lag::start() {
  _s->stopped = false;
  _s->arm();
}

void loop_lag::stop() {
  _s->stopped = true;
  _s->timer.cancel();
}

}  // namespace gregor::server
