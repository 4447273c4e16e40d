#include "gregor/rpc/rpc_error.h"

namespace gregor::rpc {

std::string_view to_string(rpc_error_kind kind) {
  switch (kind) {
    case rpc_error_kind::connect_failed:
      return "connect_failed";
    case rpc_error_kind::timeout:
      return "timeout";
    case rpc_error_kind::disconnected:
      return "disconnected";
    case rpc_error_kind::unsupported_version:
      return "unsupported_version";
    case rpc_error_kind::decode_error:
      return "decode_error";
    case rpc_error_kind::protocol_error:
      return "protocol_error";
    case rpc_error_kind::overloaded:
      return "overloaded";
    case rpc_error_kind::unknown_node:
      return "unknown_node";
    case rpc_error_kind::stopped:
      return "stopped";
  }
  return "unknown";
}

}  // namespace gregor::rpc
