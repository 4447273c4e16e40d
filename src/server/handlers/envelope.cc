// Envelope (key 58, v0, KIP-590): a broker forwards a client's request to the active controller,
// with the client's principal and address. Served on controller listeners only (Kafka's
// "listeners": ["controller"]); the sender must be allowed ClusterAction on the cluster.
//
// The inner request (header and body, at the client's version, with its client id) runs through
// its own route as if the client had sent it here: authorized as the client's principal and
// host, and charged to the client's controller mutation quota (KIP-599; handlers/client_quota.h),
// which is why Gregor's brokers forward CreateTopics, DeleteTopics and CreatePartitions this way.
// The inner response (header and body) goes back in ResponseData; its throttle time is the
// forwarding broker's to apply to the client (this connection, the broker's, is never muted).
// Refusals, in the envelope's ErrorCode as Kafka's ControllerApis answers them:
// CLUSTER_AUTHORIZATION_FAILED (sender), PRINCIPAL_DESERIALIZATION_FAILURE (RequestPrincipal),
// INVALID_REQUEST (address, inner header, an API that is not forwarded, an inner request its
// route could not answer), UNSUPPORTED_VERSION (inner version).
#include "gregor/base/log.h"
#include "gregor/protocol/messages/envelope.h"
#include "../envelope_codec.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::envelope_request;
using resp_t = protocol::envelope_response;
using protocol::error_code;

// What Gregor's brokers forward in an Envelope (cluster_controller_client.cc).
bool forwarded_api(int16_t key) {
  switch (key) {
    case 19:  // CreateTopics
    case 20:  // DeleteTopics
    case 37:  // CreatePartitions
      return true;
    default: return false;
  }
}

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  auto refuse = [&](error_code e, std::string_view why) {
    log::get("server").info("refused an Envelope from {}: {}", ctx.conn.peer, why);
    resp.error_code = code(e);
    return resp;
  };
  if (!c.is_controller_listener(ctx.conn.listener_name)) {
    ctx.close_after_response = true;  // not an API of this listener
    co_return refuse(error_code::invalid_request, "Envelope arrived on a listener that is not a controller listener");
  }
  if (!cluster_authorized(ctx, acl_op::cluster_action))
    co_return refuse(error_code::cluster_authorization_failed, "the sender may not ClusterAction");
  std::optional<std::string> principal;
  if (req.request_principal) principal = decode_principal_data(*req.request_principal);
  if (!principal) co_return refuse(error_code::principal_deserialization_failure, "RequestPrincipal is not DefaultPrincipalData v0");
  const auto host = decode_host_address(req.client_host_address);
  if (!host) co_return refuse(error_code::invalid_request, "ClientHostAddress is not 4 or 16 bytes");

  protocol::reader r(req.request_data);
  protocol::request_header header;
  if (!protocol::decode_request_header(r, header))
    co_return refuse(error_code::invalid_request, "the inner request header is malformed: " + r.error());
  if (!forwarded_api(header.api_key))
    co_return refuse(error_code::invalid_request, fmt::format("api key {} is not forwarded", header.api_key));
  const api_route* route = find_route(header.api_key);
  if (!route || header.api_version < route->min_version || header.api_version > route->max_version)
    co_return refuse(error_code::unsupported_version,
                     fmt::format("api key {} v{} is not served", header.api_key, header.api_version));

  auto session = std::make_shared<client_session>();
  session->principal = std::move(*principal);
  session->host = *host;
  request_context inner{ctx.conn, header, {}, {}, session};
  inner.authz = ctx.authz;
  inner.request_bytes = req.request_data.size();
  net::frame_outcome out = co_await route->invoke(c, inner, r);
  if (out.what != net::frame_outcome::kind::respond || out.response.empty() || !out.splices.empty())
    co_return refuse(error_code::invalid_request, fmt::format("the inner {} v{} was not answered: {}", route->name,
                                                              header.api_version, out.close_reason));
  resp.response_data = std::move(out.response);
  co_return resp;
}

}  // namespace

api_route envelope_route() { return make_route<req_t, resp_t, &handle, 0, 0>("Envelope"); }

}  // namespace gregor::server
