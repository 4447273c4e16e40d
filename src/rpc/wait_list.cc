#include "gregor/rpc/wait_list.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gregor::rpc {
namespace asio = boost::asio;

asio::awaitable<bool> wait_list::wait_until(steady_time deadline) {
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  auto it = _timers.insert(_timers.end(), &timer);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  _timers.erase(it);
  co_return ec == asio::error::operation_aborted;
}

void wait_list::notify_all() {
  for (auto* t : _timers) t->cancel();
}

}  // namespace gregor::rpc
