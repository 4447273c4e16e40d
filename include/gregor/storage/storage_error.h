#pragma once
// The storage module's expected failures (I/O, corrupt data on disk, bad arguments). Mapped to
// Kafka error codes in one place by the caller (server), never inside storage.
#include <string>

#include <fmt/format.h>

#include "gregor/base/result.h"

namespace gregor::storage {

enum class storage_errc { io_error, offset_out_of_range, corrupt, not_found, already_exists, invalid_argument };

struct storage_error {
  storage_errc code = storage_errc::io_error;
  std::string message;
};

std::string_view to_string(storage_errc code);

// Shorthand used throughout the module: `return fail(storage_errc::corrupt, "...", args...)`.
template <class... Args>
failure<storage_error> fail(storage_errc code, fmt::format_string<Args...> f, Args&&... args) {
  return failure<storage_error>{storage_error{code, fmt::format(f, std::forward<Args>(args)...)}};
}

}  // namespace gregor::storage
