#include "dispatcher.h"

#include <exception>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/api_versions.h"
#include "gregor/protocol/messages/envelope.h"
#include "route.h"
#include "handlers/client_quota.h"
#include "http_admin.h"

namespace gregor::server {
namespace asio = boost::asio;

namespace {

int16_t be16(const uint8_t* p) { return int16_t(uint16_t(p[0]) << 8 | p[1]); }
int32_t be32(const uint8_t* p) {
  return int32_t(uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]);
}

// ApiVersions at a version we do not know: answer with a v0 body and header v0, error
// UNSUPPORTED_VERSION and the full list, so the client retries with a version we support.
net::frame_outcome unsupported_api_versions(int32_t correlation_id) {
  protocol::api_versions_response resp;
  resp.error_code = protocol::code_of(protocol::error_code::unsupported_version);
  for (const auto& r : all_routes()) {
    if (r.key == protocol::envelope_request::api_key) continue;  // listed on controller listeners only (api_versions.cc)
    auto& k = resp.api_keys.emplace_back();
    k.api_key = r.key;
    k.min_version = r.min_version;
    k.max_version = r.max_version;
  }
  net::frame_outcome out;
  out.response = protocol::encode_response(resp, 0, correlation_id);
  return out;
}

constexpr int16_t sasl_handshake_key = 17;
constexpr int16_t api_versions_key = 18;
constexpr int16_t sasl_authenticate_key = 36;

// Kafka's cluster-action APIs (ApiKeys.clusterAction): answered without counting against
// request quotas (KafkaApis/ControllerApis sendResponseExemptThrottle). Followers' Fetch is
// exempted by the Fetch handler.
bool cluster_action_api(int16_t key) {
  switch (key) {
    case 4: case 5: case 6: case 7:  // LeaderAndIsr, StopReplica, UpdateMetadata, ControlledShutdown
    case 27:                         // WriteTxnMarkers
    case 52: case 53: case 54:       // Vote, BeginQuorumEpoch, EndQuorumEpoch
    case 56: case 58: case 59:       // AlterPartition, Envelope, FetchSnapshot
    case 62: case 63:                // BrokerRegistration, BrokerHeartbeat
    case 67: case 70: case 73:       // AllocateProducerIds, ControllerRegistration, AssignReplicasToDirs
      return true;
    default: return false;
  }
}

// The address part of "ip:port" ("[v6]:port" too).
std::string host_of(const std::string& peer) {
  const auto colon = peer.rfind(':');
  std::string host = colon == std::string::npos ? peer : peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host;
}

}  // namespace

std::shared_ptr<client_session> dispatcher::session_for(const net::connection_info& conn) {
  auto& s = _sessions[conn.id];
  if (!s) {
    s = std::make_shared<client_session>();
    s->host = host_of(conn.peer);
    s->sasl = conn.security_protocol == "SASL_PLAINTEXT" || conn.security_protocol == "SASL_SSL";
    if (s->sasl) s->at = client_session::stage::need_handshake;
    if (conn.security_protocol == "SSL") {
      std::string why;
      if (auto p = _tls.principal_of(conn, &why)) s->principal = std::move(*p);
      else s->refused = std::move(why);
    }
  }
  return s;
}

std::optional<double> dispatcher::ip_connection_rate(const std::string& ip) {
  const auto& all = _core.image().client_quotas();
  if (all.empty()) return std::nullopt;
  for (const auto& entity : {controller::quota_entity{{"ip", ip}}, controller::quota_entity{{"ip", std::nullopt}}}) {
    auto it = all.find(entity);
    if (it == all.end()) continue;
    auto v = it->second.find("connection_creation_rate");
    if (v != it->second.end()) return v->second;
  }
  return std::nullopt;
}

int32_t record_request_time(core& c, request_context& ctx, int64_t nanos) {
  return throttle_for(c, ctx, client_quota_kind::request, nanos_to_percentage(nanos));
}

asio::awaitable<net::frame_outcome> dispatcher::handle(const net::connection_info& conn,
                                                       std::vector<uint8_t> frame) {
  // The request's place in its connection's order, taken before anything suspends; it leaves the
  // gate however this returns, with the throttle its answer carries. The gate lives as long as the
  // connection (on_close drops it, after the connection's last handler call finished).
  auto& gate_slot = _gates[conn.id];
  if (!gate_slot) gate_slot = std::make_shared<request_gate>();
  struct gate_pass {
    std::shared_ptr<request_gate> gate;
    uint64_t ticket;
    int64_t throttle_ms = 0;
    ~gate_pass() { gate->leave(ticket, throttle_ms); }
  } pass{gate_slot, gate_slot->arrive()};
  std::shared_ptr<client_session> session = session_for(conn);
  if (!session->refused.empty())
    co_return close_connection(fmt::format("SSL authentication failed: {}", session->refused));
  if (session->raw_tokens && session->exchange) {
    // A bare SASL token after SaslHandshake v0.
    sasl_result step = sasl_step(_core, *session, conn, frame);
    if (step.what == sasl_result::state::failed)
      co_return close_connection(fmt::format("SASL {} authentication failed: {}", session->mechanism, step.error_message));
    net::frame_outcome out;
    out.response = std::move(step.response);
    out.authenticated = step.what == sasl_result::state::done;
    co_return out;
  }
  if (frame.size() < 8) co_return close_connection("request shorter than a request header");
  const int16_t key = be16(frame.data());
  const int16_t version = be16(frame.data() + 2);
  const int32_t correlation_id = be32(frame.data() + 4);
  const api_route* route = find_route(key);
  if (!route) co_return close_connection(fmt::format("unknown api key {}", key));
  if (version < route->min_version || version > route->max_version) {
    if (key == protocol::api_versions_request::api_key && version > route->max_version)
      co_return unsupported_api_versions(correlation_id);
    co_return close_connection(fmt::format("unsupported version {} of {} (supported {}-{})",
                                           version, route->name, route->min_version,
                                           route->max_version));
  }
  protocol::reader r(frame);
  protocol::request_header header;
  if (!protocol::decode_request_header(r, header))
    co_return close_connection(fmt::format("malformed request header: {}", r.error()));
  const bool sasl_api = key == api_versions_key || key == sasl_handshake_key || key == sasl_authenticate_key;
  if (session->at != client_session::stage::authenticated && !sasl_api)
    co_return close_connection(fmt::format("{} (api key {}) before SASL authentication completed", route->name, key));
  if (session->at == client_session::stage::authenticated && !sasl_api &&
      std::chrono::steady_clock::now() >= session->expires)
    co_return close_connection(fmt::format("{} after the SASL session of {} expired (connections.max.reauth.ms, or the token's expiry)",
                                           route->name, session->principal));
  request_context ctx{conn, header, {}, {}, session};
  ctx.authz = &_authz;
  ctx.request_bytes = frame.size();
  // Before SASL completes Kafka's authenticator answers, not KafkaApis: nothing is counted.
  ctx.meter_request_time = session->at == client_session::stage::authenticated && !cluster_action_api(key) &&
                           _core.client_quotas().enabled(client_quota_kind::request);
  try {
    co_await pass.gate->enter(pass.ticket);  // at once, unless the connection was throttled
    const auto started = std::chrono::steady_clock::now();
    net::frame_outcome out = co_await route->invoke(_core, ctx, r);
    pass.throttle_ms = out.throttle_ms;
    if (ctx.authenticated_now) out.authenticated = true;
    if (ctx.close_after_response && out.what == net::frame_outcome::kind::respond) {
      out.what = net::frame_outcome::kind::close;
      out.close_reason = fmt::format("{} failed for {}", route->name, conn.peer);
    }
    record_request(route->name, version, conn, header.client_id,
                   std::chrono::steady_clock::now() - started, out);
    for (int16_t code : ctx.error_codes) record_response_error(route->name, code);
    co_return out;
  } catch (const std::exception& e) {
    log::get("server").error("{} v{} from {} failed: {}", route->name, version, conn.peer,
                             e.what());
  }
  co_return close_connection(fmt::format("internal error handling {}", route->name));
}

}  // namespace gregor::server
