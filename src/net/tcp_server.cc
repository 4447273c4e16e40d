#include "gregor/net/tcp_server.h"

#include <boost/asio/co_spawn.hpp>

#include "server_core.h"

namespace gregor::net {

tcp_server::tcp_server(boost::asio::io_context& io, server_options opts, frame_handler& handler)
    : _core(std::make_shared<detail::server_core>(io, std::move(opts), handler)) {}

tcp_server::~tcp_server() { _core->shut_down(); }

result<void, std::string> tcp_server::start() { return _core->start(); }

std::vector<uint16_t> tcp_server::bound_ports() const { return _core->ports; }

void tcp_server::stop_accepting() { _core->stop_accepting(); }

boost::asio::awaitable<void> tcp_server::drain_and_close(int64_t deadline_ms) {
  auto core = _core;
  co_await core->drain_and_close(deadline_ms);
}

void tcp_server::close_all() { _core->close_all("server closing all connections"); }

bool tcp_server::update_tls(
    const std::string& listener, std::shared_ptr<boost::asio::ssl::context> tls, std::vector<std::string> watched_files,
    std::function<result<std::shared_ptr<boost::asio::ssl::context>, std::string>()> rebuild) {
  return _core->update_tls(listener, std::move(tls), std::move(watched_files), std::move(rebuild));
}

size_t tcp_server::connection_count() const { return _core->connection_count.load(); }

tcp_server::stats tcp_server::counters() const {
  stats s;
  s.frames_in = _core->frames_in.load();
  s.bytes_in = _core->bytes_in.load();
  s.bytes_out = _core->bytes_out.load();
  s.accepted = _core->accepted.load();
  s.closed = _core->closed.load();
  s.rejected_frames = _core->rejected_frames.load();
  return s;
}

}  // namespace gregor::net
