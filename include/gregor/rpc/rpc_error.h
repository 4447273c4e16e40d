#pragma once
// rpc_error: why a call to another node failed. The message is one sentence naming the node and
// its address ("node 2 (10.0.0.7:9092): no response to Vote v1 within 500 ms").
#include <cstdint>
#include <string>
#include <string_view>

namespace gregor::rpc {

enum class rpc_error_kind : uint8_t {
  connect_failed,       // resolve/connect/ApiVersions failed, or the node is in reconnect back-off
  timeout,              // no response (or no connection, or no in-flight slot) before the deadline
  disconnected,         // the connection dropped while the request was queued or in flight
  unsupported_version,  // no version of the API both sides support (or a forced one is refused)
  decode_error,         // the response did not decode at the version sent
  protocol_error,       // the peer broke framing: bogus size, unknown correlation id
  overloaded,           // the connection's queue of callers waiting for an in-flight slot is full
  unknown_node,         // the pool has no endpoint for this node id
  stopped,              // the pool or connection was stopped
};

// "connect_failed", "timeout", ...
std::string_view to_string(rpc_error_kind kind);

struct rpc_error {
  rpc_error_kind kind = rpc_error_kind::disconnected;
  std::string message;
};

}  // namespace gregor::rpc
