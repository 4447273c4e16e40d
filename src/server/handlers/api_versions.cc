// ApiVersions (key 18). v1: throttle_time_ms. v2: no change. v3: flexible, client software name and
// version, supported/finalized features (tagged). v4: no change (clients may send it to learn that
// UNSUPPORTED_VERSION is answered with a v0 body). The response header is always v0; versions above
// our maximum are answered by the dispatcher with UNSUPPORTED_VERSION and our list.
#include "gregor/protocol/messages/api_versions.h"
#include "gregor/protocol/messages/envelope.h"
#include "gregor/controller/metadata_image.h"
#include "handlers.h"
#include "../metadata_quorum.h"

namespace gregor::server {
namespace {
using req_t = protocol::api_versions_request;
using resp_t = protocol::api_versions_response;

boost::asio::awaitable<std::optional<resp_t>> handle(core& c, request_context& ctx, req_t& req) {
  resp_t resp;
  const bool controller_listener = c.is_controller_listener(ctx.conn.listener_name);
  for (const auto& r : all_routes()) {
    if (r.key == protocol::envelope_request::api_key && !controller_listener) continue;  // brokers forward, controllers unwrap
    auto& k = resp.api_keys.emplace_back();
    k.api_key = r.key;
    k.min_version = r.min_version;
    k.max_version = r.max_version;
  }
  if (ctx.version() >= 3) {
    // Tagged fields: what `kafka-features.sh describe` (Admin.describeFeatures) shows. The
    // finalized levels are the metadata image's FeatureLevelRecords; their epoch is the image's
    // offset, as Kafka's brokers report it.
    // Below v4, a feature whose minimum is 0 is left out, as Kafka does (KAFKA-17492: older
    // clients refuse a supported range starting at 0).
    for (const auto& f : controller::supported_features)
      if (ctx.version() >= 4 || f.min > 0) resp.supported_features.push_back({f.name, f.min, f.max, {}});
    const auto& image = c.image();
    for (const auto& [name, level] : image.features())
      if (level > 0) resp.finalized_features.push_back({name, level, level, {}});
    if (!resp.finalized_features.empty()) {
      auto* q = c.quorum();
      resp.finalized_features_epoch = q ? q->applied_offset().value() : 0;  // a single node never changes them
    }
  }
  co_return resp;
}

}  // namespace

api_route api_versions_route() { return make_route<req_t, resp_t, &handle, 0, 4>("ApiVersions"); }

}  // namespace gregor::server
