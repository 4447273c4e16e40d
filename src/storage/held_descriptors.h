#pragma once
// Duplicated file descriptors that travel with a queued disk-writer action (a due flush, a
// segment's seal): they close when the last copy of the action is destroyed, whether it ran or
// was dropped unrun (the writer drops a log's queued actions after a failed write). An action that
// hands them on (to a detached sync thread) takes them out with release().
#include <memory>
#include <utility>
#include <vector>

#include <unistd.h>

namespace gregor::storage::detail {

class held_descriptors {
 public:
  explicit held_descriptors(std::vector<int> fds)
      : _fds(new std::vector<int>(std::move(fds)), [](std::vector<int>* v) {
          for (int fd : *v) ::close(fd);
          delete v;
        }) {}

  const std::vector<int>& fds() const { return *_fds; }
  // The descriptors, now the caller's to close.
  std::vector<int> release() const { return std::exchange(*_fds, {}); }

 private:
  std::shared_ptr<std::vector<int>> _fds;
};

}  // namespace gregor::storage::detail
