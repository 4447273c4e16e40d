#include "fetch_waiters.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gregor::server {
namespace asio = boost::asio;

asio::awaitable<void> fetch_waiters::wait(const std::vector<topic_partition>& tps,
                                          int64_t timeout_ms) {
  auto timer = std::make_shared<asio::steady_timer>(_io);
  timer->expires_after(std::chrono::milliseconds(timeout_ms));
  for (const auto& tp : tps) {
    auto& list = _by_tp[tp];
    std::erase_if(list, [](const auto& w) { return w.expired(); });
    list.push_back(timer);
  }
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

void fetch_waiters::notify(const topic_partition& tp) {
  auto it = _by_tp.find(tp);
  if (it == _by_tp.end()) return;
  auto list = std::move(it->second);
  _by_tp.erase(it);
  for (auto& w : list) {
    if (auto t = w.lock()) t->cancel();
  }
}

void fetch_waiters::notify_all() {
  auto all = std::move(_by_tp);
  _by_tp.clear();
  for (auto& [tp, list] : all)
    for (auto& w : list)
      if (auto t = w.lock()) t->cancel();
}

size_t fetch_waiters::parked() const {
  size_t n = 0;
  for (const auto& [tp, list] : _by_tp)
    n += std::count_if(list.begin(), list.end(), [](const auto& w) { return !w.expired(); });
  return n;
}

}  // namespace gregor::server
