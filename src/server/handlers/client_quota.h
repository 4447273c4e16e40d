#pragma once
// Client quotas on the request path (client_quotas.h): who a request counts against, and the
// recording that decides its throttle time. Produce records the request's size once its appends
// are answered; Fetch (consumers only: follower fetches are never throttled by client quotas)
// records the response's size, and a throttled Fetch answers without records (Kafka's
// getThrottledResponse), taking the recording back.
#include <string>

#include "handlers.h"

namespace gregor::server {

// The quota user: the principal's name ("User:alice" -> "alice"), as Kafka's principal.getName().
inline std::string quota_user(const request_context& ctx) {
  if (!ctx.session) return "ANONYMOUS";
  const auto& p = ctx.session->principal;
  const auto colon = p.find(':');
  return colon == std::string::npos ? p : p.substr(colon + 1);
}

inline std::string quota_client_id(const request_context& ctx) { return ctx.header.client_id.value_or(""); }

// Records `value` against the request's quota of `kind`; the throttle time in milliseconds (0
// within the quota). A throttle is noted for the metrics and mutes the connection once the
// response is ready (ctx.throttle_ms).
inline int32_t throttle_for(core& c, request_context& ctx, client_quota_kind kind, double value) {
  auto& q = c.client_quotas();
  if (!q.enabled(kind)) return 0;
  const int64_t now_ms = c.clk().monotonic_ms();
  const std::string user = quota_user(ctx);
  const std::string client_id = quota_client_id(ctx);
  const int64_t ms = q.record(kind, user, client_id, value, now_ms);
  if (ms <= 0) return 0;
  const int32_t capped = int32_t(std::min<int64_t>(ms, INT32_MAX));
  q.note_throttled(kind, user, client_id, capped, now_ms);
  ctx.throttle_ms = std::max<int64_t>(ctx.throttle_ms, capped);
  return capped;
}

}  // namespace gregor::server
