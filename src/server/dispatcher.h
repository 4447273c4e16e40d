#pragma once
// dispatcher: the net::frame_handler of the Kafka listeners. Reads the request header, finds the
// route for the API key, refuses unknown keys and unsupported versions (closing the connection,
// except ApiVersions, which answers UNSUPPORTED_VERSION with our list so the client can retry
// lower), and runs the route. One per broker; called on the io thread.
#include "core.h"
#include "gregor/net/tcp_server.h"

namespace gregor::server {

class dispatcher final : public net::frame_handler {
 public:
  explicit dispatcher(core& c) : _core(c) {}
  boost::asio::awaitable<net::frame_outcome> handle(const net::connection_info& conn,
                                                    std::vector<uint8_t> frame) override;

 private:
  core& _core;
};

}  // namespace gregor::server
