#include "gregor/storage/cleaner_thread.h"

#include "gregor/base/log.h"

namespace gregor::storage {

cleaner_thread::cleaner_thread(size_t queue_max) : _queue_max(queue_max) {
  _thread = std::thread([this] { run(); });
}

cleaner_thread::~cleaner_thread() {
  stop();
}

bool cleaner_thread::submit(std::function<void()> job) {
  std::lock_guard lock(_mutex);
  if (_stopping || _jobs.size() >= _queue_max) return false;
  _jobs.push_back(std::move(job));
  _wake.notify_one();
  return true;
}

void cleaner_thread::stop() {
  {
    std::lock_guard lock(_mutex);
    if (_stopping && !_thread.joinable()) return;
    _stopping = true;
    _jobs.clear();
    _wake.notify_all();
    _idle.notify_all();
  }
  if (_thread.joinable()) _thread.join();
}

size_t cleaner_thread::pending() const {
  std::lock_guard lock(_mutex);
  return _jobs.size() + _running;
}

void cleaner_thread::wait_idle() {
  std::unique_lock lock(_mutex);
  _idle.wait(lock, [&] { return _stopping || (_jobs.empty() && _running == 0); });
}

void cleaner_thread::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(_mutex);
      _wake.wait(lock, [&] { return _stopping || !_jobs.empty(); });
      if (_stopping) return;
      job = std::move(_jobs.front());
      _jobs.pop_front();
      ++_running;
    }
    try {
      job();
    } catch (const std::exception& e) {
      log::get("storage").error("log cleaner job failed: {}", e.what());
    }
    std::lock_guard lock(_mutex);
    --_running;
    if (_jobs.empty() && _running == 0) _idle.notify_all();
  }
}

}  // namespace gregor::storage
