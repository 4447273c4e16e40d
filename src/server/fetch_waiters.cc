#include "fetch_waiters.h"

#include <algorithm>
#include <unordered_set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace gregor::server {
namespace asio = boost::asio;

asio::awaitable<fetch_waiters::woken> fetch_waiters::wait(const std::vector<topic_partition>& tps,
                                                          int64_t timeout_ms, node_id replica) {
  auto w = std::make_shared<waiter>(_io);
  w->timer.expires_after(std::chrono::milliseconds(timeout_ms));
  const auto park = [&w](std::vector<std::weak_ptr<waiter>>& list) {
    std::erase_if(list, [](const auto& e) { return e.expired(); });
    list.push_back(w);
  };
  for (const auto& tp : tps) park(_by_tp[tp]);
  if (replica != no_node) park(_by_replica[replica]);
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return w->replica_woken ? woken::replica : woken::data_or_timeout;
}

void fetch_waiters::notify(const topic_partition& tp) {
  auto it = _by_tp.find(tp);
  if (it == _by_tp.end()) return;
  auto list = std::move(it->second);
  _by_tp.erase(it);
  for (auto& w : list) {
    if (auto t = w.lock()) t->timer.cancel();
  }
}

void fetch_waiters::notify_replica(node_id replica) {
  auto it = _by_replica.find(replica);
  if (it == _by_replica.end()) return;
  auto list = std::move(it->second);
  _by_replica.erase(it);
  for (auto& w : list) {
    if (auto t = w.lock()) {
      t->replica_woken = true;
      t->timer.cancel();
    }
  }
}

void fetch_waiters::expect_join(node_id replica, const topic_partition& tp, int64_t now_ms) {
  _joins[replica][tp] = now_ms;
}

bool fetch_waiters::awaiting_join(node_id replica, const std::vector<topic_partition>& listed, int64_t now_ms) {
  auto it = _joins.find(replica);
  if (it == _joins.end()) return false;
  auto& expected = it->second;
  for (const auto& tp : listed) expected.erase(tp);
  std::erase_if(expected, [now_ms](const auto& e) { return now_ms - e.second >= join_expiry_ms; });
  if (!expected.empty()) return true;
  _joins.erase(it);
  return false;
}

void fetch_waiters::notify_all() {
  auto all = std::move(_by_tp);
  _by_tp.clear();
  auto replicas = std::move(_by_replica);
  _by_replica.clear();
  for (auto& [tp, list] : all)
    for (auto& w : list)
      if (auto t = w.lock()) t->timer.cancel();
  for (auto& [r, list] : replicas)
    for (auto& w : list)
      if (auto t = w.lock()) t->timer.cancel();
}

size_t fetch_waiters::parked() const {
  size_t n = 0;
  // Each parked fetch holds one waiter, listed once per partition and once under its replica.
  std::unordered_set<const waiter*> live;
  for (const auto& [tp, list] : _by_tp)
    for (const auto& w : list)
      if (auto p = w.lock()) live.insert(p.get());
  for (const auto& [r, list] : _by_replica)
    for (const auto& w : list)
      if (auto p = w.lock()) live.insert(p.get());
  return live.size();
}

}  // namespace gregor::server
