#pragma once
// Client quotas on the request path (client_quotas.h): who a request counts against, and the
// recording that decides its throttle time. Produce records the request's size once its appends
// are answered; Fetch (consumers only: follower fetches are never throttled by client quotas)
// records the response's size, and a throttled Fetch answers without records (Kafka's
// getThrottledResponse), taking the recording back.
#include <algorithm>
#include <climits>
#include <string>
#include <string_view>

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

// KIP-599: one request's controller mutation quota (Kafka's ControllerMutationQuota), for
// CreateTopics, CreatePartitions and DeleteTopics. The quota belongs to the active controller:
//   - When this node's controller carries the change out (a single node, the active controller
//     itself, or a request an Envelope brought to the controller listener), each topic that passed
//     the request's own checks takes its partitions (created or deleted) here, before the change.
//     A strict quota (the request's version at or above strict_since_version) refuses a topic once
//     the bucket is exhausted (THROTTLING_QUOTA_EXCEEDED, with no message: Kafka's ApiError drops a
//     message that is the error's default), a permissive one only throttles. A change the
//     controller then refuses gives its permits back (Kafka charges only topics that passed every
//     check).
//   - When the change goes to an active controller elsewhere, nothing is charged here: requester()
//     sends the client's identity along (mutation_requester, in an Envelope) and the controller
//     charges it, refusing or throttling as above; its throttle time comes back.
// The answer's throttle time (finish) is the last one computed, less the time since, or the
// controller's; the connection is muted for it (also in ctx.throttle_ms).
class mutation_quota {
 public:
  mutation_quota(core& c, request_context& ctx, int16_t strict_since_version)
      : _c(c), _ctx(ctx), _strict(ctx.version() >= strict_since_version),
        _forwarded(controller_for(c, ctx).forwards_mutations()),
        _enabled(!_forwarded && c.client_quotas().enabled(client_quota_kind::controller_mutation)) {
    if (_enabled || _forwarded) {
      _user = quota_user(ctx);
      _client_id = quota_client_id(ctx);
    }
    if (_forwarded) {
      if (ctx.session) {
        _who.principal = ctx.session->principal;
        _who.host = ctx.session->host;
      }
      _who.client_id = _client_id;
      _who.version = ctx.version();
    }
  }

  // What to pass to the controller_client's mutation (null when charged here).
  mutation_requester* requester() { return _forwarded ? &_who : nullptr; }

  // False: refused (strict and the quota is exhausted); the topic answers THROTTLING_QUOTA_EXCEEDED.
  bool take(int32_t permits) {
    if (!_enabled || permits <= 0) return true;
    const int64_t now_ms = _c.clk().monotonic_ms();
    const auto r = _c.client_quotas().record_mutation(_user, _client_id, double(permits), _strict, now_ms);
    if (r.throttle_ms > 0) {
      _throttle_ms = r.throttle_ms;
      _throttle_at_ms = now_ms;
    }
    return r.accepted;
  }
  void give_back(int32_t permits) {
    if (!_enabled || permits <= 0) return;
    _c.client_quotas().unrecord_mutation(_user, _client_id, double(permits), _c.clk().monotonic_ms());
  }
  // Once the answer is ready: the throttle time for the response, noted and muting the connection.
  int32_t finish() {
    const int64_t now_ms = _c.clk().monotonic_ms();
    int64_t left_ms = 0;
    if (_forwarded) left_ms = _who.throttle_ms;
    else if (_throttle_ms > 0) left_ms = std::max<int64_t>(0, _throttle_ms - (now_ms - _throttle_at_ms));
    if (left_ms <= 0) return 0;
    const int32_t capped = int32_t(std::min<int64_t>(left_ms, INT32_MAX));
    _c.client_quotas().note_throttled(client_quota_kind::controller_mutation, _user, _client_id, capped, now_ms);
    _ctx.throttle_ms = std::max<int64_t>(_ctx.throttle_ms, capped);
    return capped;
  }

 private:
  core& _c;
  request_context& _ctx;
  bool _strict;
  bool _forwarded;
  bool _enabled;
  std::string _user;
  std::string _client_id;
  mutation_requester _who;
  int64_t _throttle_ms = 0;
  int64_t _throttle_at_ms = 0;
};

}  // namespace gregor::server
