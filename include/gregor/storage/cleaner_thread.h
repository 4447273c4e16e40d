#pragma once
// cleaner_thread: a background job thread. The log cleaner's (log.cleaner.threads; Gregor runs
// one), and log_manager's deleter of removed partition directories. Runs
// submitted jobs one at a time, in order, off the io thread. A cleaner job must touch no partition_log
// state: it gets a compaction_plan and produces a compaction_output
// (partition_log::run_compaction), and hands the output back to the log's owner thread itself (the
// server posts to its io_context).
//
// Owned by the server's log_maintenance; submit()/stop() are called from the owner thread.
// Bounded: at most queue_max jobs wait; submit() refuses more. stop() drops waiting jobs, waits
// for the running one and joins the thread; the destructor calls it.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace gregor::storage {

class cleaner_thread {
 public:
  explicit cleaner_thread(size_t queue_max);
  ~cleaner_thread();
  cleaner_thread(const cleaner_thread&) = delete;
  cleaner_thread& operator=(const cleaner_thread&) = delete;

  // Queues a job; false when the queue is full or the thread stopped (the job is not run).
  bool submit(std::function<void()> job);
  void stop();
  // Jobs waiting or running.
  size_t pending() const;
  // Blocks until no job waits or runs (or the thread stopped).
  void wait_idle();

 private:
  void run();

  const size_t _queue_max;
  mutable std::mutex _mutex;
  std::condition_variable _wake;
  std::condition_variable _idle;
  std::deque<std::function<void()>> _jobs;
  size_t _running = 0;
  bool _stopping = false;
  std::thread _thread;
};

}  // namespace gregor::storage
