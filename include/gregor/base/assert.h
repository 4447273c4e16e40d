#pragma once
// GREGOR_ASSERT: always-on invariant check for programmer errors. Logs the condition and aborts.
// Never use it on bytes that came from the network or the disk: those are expected failures.

namespace gregor::detail {
[[noreturn]] void assert_failed(const char* expr, const char* file, int line);
}

#define GREGOR_ASSERT(cond)                                                     \
  do {                                                                          \
    if (!(cond)) [[unlikely]]                                                   \
      ::gregor::detail::assert_failed(#cond, __FILE__, __LINE__);               \
  } while (0)
