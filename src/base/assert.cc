#include "gregor/base/assert.h"

#include <cstdio>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace gregor::detail {

void assert_failed(const char* expr, const char* file, int line) {
  spdlog::critical("assertion failed: {} at {}:{}", expr, file, line);
  spdlog::shutdown();
  std::fprintf(stderr, "assertion failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace gregor::detail
