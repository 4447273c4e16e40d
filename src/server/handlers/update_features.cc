// UpdateFeatures (key 57, v0-2, always flexible): `kafka-features.sh upgrade / downgrade /
// disable`. Decided by the active controller (forwarded like every metadata change) as one all-or-
// nothing change; the answer carries one error for the whole request (v0-1 repeat it per feature).
#include <set>

#include "gregor/protocol/messages/update_features.h"
#include "handlers.h"

namespace gregor::server {
namespace {
using req_t = protocol::update_features_request;
using resp_t = protocol::update_features_response;
using protocol::error_code;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  std::vector<feature_change> changes;
  std::set<std::string> seen;
  error_code e = error_code::none;
  std::optional<std::string> message;
  if (!cluster_authorized(ctx, acl_op::alter)) {
    e = error_code::cluster_authorization_failed;
    message = std::string(authorization_message(e));
  }
  for (const auto& u : req.feature_updates) {
    if (e != error_code::none) break;
    // v0's AllowDowngrade is v1's safe downgrade.
    const int8_t type = ctx.version() == 0 ? (u.allow_downgrade ? 2 : 1) : u.upgrade_type;
    if (u.feature.empty()) {
      e = error_code::invalid_request;
      message = "The feature name can not be empty.";
    } else if (!seen.insert(u.feature).second) {
      e = error_code::invalid_request;
      message = "Duplicate feature " + u.feature + " in the request.";
    } else if (type < 1 || type > 3) {
      e = error_code::invalid_request;
      message = "Unknown upgrade type " + std::to_string(type) + " for feature " + u.feature + ".";
    }
    if (e != error_code::none) break;
    changes.push_back(feature_change{u.feature, u.max_version_level, type});
  }
  if (e == error_code::none) {
    auto r = co_await controller_for(c, ctx).update_features(std::move(changes), req.validate_only);
    if (!r) {
      e = r.error().code;
      message = r.error().message;
    }
  }
  resp.error_code = code(e);
  if (e != error_code::none) resp.error_message = message;
  // v0-1 list each feature's result; a request refused as a whole lists none (as Kafka).
  if (ctx.version() < 2 && e == error_code::none) {
    for (const auto& u : req.feature_updates) {
      auto& out = resp.results.emplace_back();
      out.feature = u.feature;
      out.error_code = resp.error_code;
      out.error_message = resp.error_message;
    }
  }
  co_return resp;
}

}  // namespace

api_route update_features_route() { return make_route<req_t, resp_t, &handle, 0, 2>("UpdateFeatures"); }

}  // namespace gregor::server
