// ApiVersions (key 18). v1: throttle_time_ms. v2: no change. v3: flexible, client software name and
// version, supported/finalized features (tagged). v4: no change (clients may send it to learn that
// UNSUPPORTED_VERSION is answered with a v0 body). The response header is always v0; versions above
// our maximum are answered by the dispatcher with UNSUPPORTED_VERSION and our list.
#include "gregor/protocol/messages/api_versions.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::api_versions_request;
using resp_t = protocol::api_versions_response;

boost::asio::awaitable<std::optional<resp_t>> handle(core&, request_context& ctx, req_t& req) {
  resp_t resp;
  for (const auto& r : all_routes()) {
    auto& k = resp.api_keys.emplace_back();
    k.api_key = r.key;
    k.min_version = r.min_version;
    k.max_version = r.max_version;
  }
  co_return resp;
}

}  // namespace

api_route api_versions_route() { return make_route<req_t, resp_t, &handle, 0, 4>("ApiVersions"); }

}  // namespace gregor::server
