// Proves rpc::connection and rpc::node_pool negotiate versions, pipeline requests (completing out
// of order), time requests out, survive and report server failures, reconnect with back-off and
// stop cleanly, using fake Kafka servers on real 127.0.0.1 sockets and the io_context on the test
// thread (every wait is a condition or an io_context timer).
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "gregor/net/tcp_server.h"
#include "gregor/net/tls.h"
#include "../net/test_certs.h"
#include "gregor/protocol/api.h"
#include "gregor/protocol/error_code.h"
#include "gregor/protocol/messages/api_versions.h"
#include "gregor/protocol/messages/create_topics.h"
#include "gregor/protocol/messages/metadata.h"
#include "gregor/rpc/backoff.h"
#include "gregor/rpc/connection.h"
#include "gregor/rpc/node_pool.h"

namespace asio = boost::asio;
using asio::awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;
using gregor::node_id;
using gregor::rpc::call_options;
using gregor::rpc::connection;
using gregor::rpc::endpoint;
using gregor::rpc::node_pool;
using gregor::rpc::pool_options;
using gregor::rpc::rpc_error;
using gregor::rpc::tls_client_source;
using gregor::rpc::rpc_error_kind;
using gregor::rpc::steady_time;
using gregor::rpc::wait_list;
namespace protocol = gregor::protocol;
using metadata_result = gregor::result<protocol::metadata_response, rpc_error>;

namespace {

constexpr int16_t metadata_max_supported = 12;  // the fake broker's Metadata maximum

steady_time after(std::chrono::milliseconds d) {
  return std::chrono::steady_clock::now() + d;
}

// Conditions the test waits for: whoever changes state calls notify(); state the test cannot
// hook (a client connection noticing EOF) is re-checked on a 5 ms io_context timer.
struct events {
  wait_list changed;
  void notify() { changed.notify_all(); }
  // Waits until pred() or `timeout`; returns pred().
  awaitable<bool> until(std::function<bool()> pred, std::chrono::milliseconds timeout = 5000ms) {
    const steady_time deadline = after(timeout);
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline) co_return pred();
      co_await changed.wait_until(std::min(deadline, after(5ms)));
    }
    co_return true;
  }
};

protocol::metadata_request metadata_for(const std::string& topic) {
  protocol::metadata_request req;
  req.allow_auto_topic_creation = false;
  req.topics.emplace().emplace_back().name = topic;
  return req;
}

protocol::metadata_response metadata_answer(const std::string& topic) {
  protocol::metadata_response resp;
  auto& b = resp.brokers.emplace_back();
  b.node_id = 1;
  b.host = "127.0.0.1";
  b.port = 9092;
  resp.topics.emplace_back().name = topic;
  return resp;
}

std::string topic_of(const metadata_result& r) {
  if (!r || r.value().topics.empty() || !r.value().topics[0].name) return "<none>";
  return *r.value().topics[0].name;
}

protocol::api_versions_response api_list(int16_t api_versions_max, bool list_api_versions) {
  protocol::api_versions_response resp;
  if (list_api_versions) resp.api_keys.push_back({18, 0, api_versions_max, {}});
  resp.api_keys.push_back({3, 0, metadata_max_supported, {}});
  resp.api_keys.push_back({19, 2, 7, {}});
  return resp;
}

// A Kafka broker stand-in on net::tcp_server. Metadata for topic "hold" answers once release()
// is called, other topics at once. Responses go out in request order (tcp_server's rule).
class fake_broker : public gregor::net::frame_handler {
 public:
  fake_broker(asio::io_context& io, events& ev, uint16_t port = 0,
              std::shared_ptr<asio::ssl::context> tls = nullptr)
      : _ev(ev) {
    gregor::net::server_options opts;
    opts.listeners.push_back({"PLAINTEXT", "127.0.0.1", port});
    opts.listeners.back().tls = std::move(tls);
    _server = std::make_unique<gregor::net::tcp_server>(io, opts, *this);
    auto started = _server->start();
    EXPECT_TRUE(started.has_value()) << (started ? "" : started.error());
  }
  ~fake_broker() override { shutdown(); }

  uint16_t port() const { return _server->bound_ports().at(0); }
  endpoint address() const { return {"127.0.0.1", port()}; }
  void release() {
    _released = true;
    _release.notify_all();
  }
  // Closes every connection at once (requests in hand are never answered).
  void drop_connections() { _server->close_all(); }
  void shutdown() {
    release();
    if (_server) {
      _server->stop_accepting();
      _server->close_all();
    }
  }

  int16_t api_versions_max = 5;  // higher ApiVersions versions get UNSUPPORTED_VERSION + list
  bool list_api_versions = true;
  std::vector<std::pair<int16_t, int16_t>> seen;  // (api key, version) of every request
  std::vector<std::string> client_ids;
  size_t handling = 0;
  size_t handling_max = 0;
  size_t closed_connections = 0;

  awaitable<gregor::net::frame_outcome> handle(const gregor::net::connection_info&,
                                               std::vector<uint8_t> frame) override {
    protocol::reader r(frame);
    protocol::request_header h;
    gregor::net::frame_outcome out;
    if (!protocol::decode_request_header(r, h)) {
      out.what = gregor::net::frame_outcome::kind::close;
      out.close_reason = "bad header";
      co_return out;
    }
    seen.emplace_back(h.api_key, h.api_version);
    client_ids.push_back(h.client_id.value_or(""));
    _ev.notify();
    if (h.api_key == protocol::api_versions_request::api_key) {
      if (h.api_version > api_versions_max) {
        auto resp = api_list(api_versions_max, list_api_versions);
        resp.error_code = protocol::code_of(protocol::error_code::unsupported_version);
        out.response = protocol::encode_response(resp, 0, h.correlation_id);
      } else {
        out.response = protocol::encode_response(api_list(api_versions_max, list_api_versions),
                                                 h.api_version, h.correlation_id);
      }
      co_return out;
    }
    if (h.api_key == protocol::create_topics_request::api_key) {
      protocol::create_topics_request req;
      req.decode(r, h.api_version);
      protocol::create_topics_response resp;
      for (const auto& t : req.topics) resp.topics.emplace_back().name = t.name;
      out.response = protocol::encode_response(resp, h.api_version, h.correlation_id);
      co_return out;
    }
    protocol::metadata_request req;
    req.decode(r, h.api_version);
    const std::string topic =
        req.topics && !req.topics->empty() ? req.topics->at(0).name.value_or("") : "";
    handling_max = std::max(handling_max, ++handling);
    _ev.notify();
    while (topic == "hold" && !_released) co_await _release.wait_until(steady_time::max());
    --handling;
    out.response =
        protocol::encode_response(metadata_answer(topic), h.api_version, h.correlation_id);
    co_return out;
  }
  void on_close(const gregor::net::connection_info&) override {
    ++closed_connections;
    _ev.notify();
  }

 private:
  events& _ev;
  std::unique_ptr<gregor::net::tcp_server> _server;
  bool _released = false;
  wait_list _release;
};

// A misbehaving broker on a raw acceptor (one connection): answers ApiVersions properly (unless
// silent, which answers nothing), then treats Metadata according to `mode`.
class raw_broker {
 public:
  enum class mode { reverse_pairs, huge_size, wrong_correlation_id, truncated_body, silent };
  raw_broker(asio::io_context& io, mode m)
      : _acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), _mode(m) {
    asio::co_spawn(io, serve(), asio::detached);
  }
  endpoint address() const { return {"127.0.0.1", _acceptor.local_endpoint().port()}; }

 private:
  static awaitable<bool> write_frame(tcp::socket& s, const std::vector<uint8_t>& body) {
    const uint32_t n = uint32_t(body.size());
    const std::array<uint8_t, 4> prefix{uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8),
                                        uint8_t(n)};
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(prefix), asio::buffer(body)};
    auto [ec, written] =
        co_await asio::async_write(s, buffers, asio::as_tuple(asio::use_awaitable));
    co_return !ec;
  }

  awaitable<void> serve() {
    auto [aec, s] = co_await _acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (aec) co_return;
    struct held {
      int32_t correlation_id;
      int16_t version;
      std::string topic;
    };
    std::vector<held> pending;
    while (true) {
      uint8_t size[4];
      auto [ec, n] =
          co_await asio::async_read(s, asio::buffer(size), asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      std::vector<uint8_t> frame(size_t(uint32_t(size[0]) << 24 | uint32_t(size[1]) << 16 |
                                        uint32_t(size[2]) << 8 | size[3]));
      auto [ec2, n2] =
          co_await asio::async_read(s, asio::buffer(frame), asio::as_tuple(asio::use_awaitable));
      if (ec2) co_return;
      protocol::reader r(frame);
      protocol::request_header h;
      if (!protocol::decode_request_header(r, h)) co_return;
      if (_mode == mode::silent) continue;
      if (h.api_key == protocol::api_versions_request::api_key) {
        if (!co_await write_frame(
                s, protocol::encode_response(api_list(5, true), h.api_version, h.correlation_id)))
          co_return;
        continue;
      }
      protocol::metadata_request req;
      req.decode(r, h.api_version);
      const std::string topic = req.topics->at(0).name.value_or("");
      if (_mode == mode::huge_size) {
        std::vector<uint8_t> bogus{0x7f, 0xff, 0xff, 0xff};
        co_await asio::async_write(s, asio::buffer(bogus), asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (_mode == mode::wrong_correlation_id) {
        co_await write_frame(s, protocol::encode_response(metadata_answer(topic), h.api_version,
                                                          h.correlation_id + 1000));
        continue;
      }
      if (_mode == mode::truncated_body) {
        auto body =
            protocol::encode_response(metadata_answer(topic), h.api_version, h.correlation_id);
        body.resize(body.size() / 2);
        co_await write_frame(s, body);
        continue;
      }
      pending.push_back({h.correlation_id, h.api_version, topic});
      if (pending.size() < 2) continue;
      for (auto it = pending.rbegin(); it != pending.rend(); ++it)
        co_await write_frame(s, protocol::encode_response(metadata_answer(it->topic), it->version,
                                                          it->correlation_id));
      pending.clear();
    }
  }

  tcp::acceptor _acceptor;
  mode _mode;
};

// A port nothing listens on (bound, then released).
uint16_t closed_port(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  uint16_t port = a.local_endpoint().port();
  a.close();
  return port;
}

pool_options test_pool_options(std::string client_id = "gregor-test-1") {
  pool_options o;
  o.client_id = std::move(client_id);
  o.rng_seed = 42;
  o.connection.connect_timeout_ms = 2000;
  return o;
}

class rpc_test : public ::testing::Test {
 protected:
  // Runs the coroutine on the io_context until it returns (at most 20 s).
  void run(std::function<awaitable<void>()> body) {
    bool done = false;
    std::exception_ptr error;
    asio::co_spawn(io, body(), [&](std::exception_ptr e) {
      done = true;
      error = e;
      io.stop();
    });
    asio::steady_timer guard(io, 20s);
    guard.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) io.stop();
    });
    io.run();
    ASSERT_TRUE(done) << "the test coroutine did not finish within 20 s";
    if (error) std::rethrow_exception(error);
  }

  // Starts a Metadata call for `topic` through `pool` in the background; `out` gets its result.
  void spawn_metadata(node_pool& pool, std::string topic, int64_t timeout_ms,
                      std::optional<metadata_result>& out,
                      std::vector<std::string>* order = nullptr) {
    asio::co_spawn(
        io,
        [this, &pool, topic, timeout_ms, &out, order]() -> awaitable<void> {
          auto req = metadata_for(topic);
          out.emplace(co_await pool.call<protocol::metadata_request, protocol::metadata_response>(
              node_id{1}, req, {.timeout_ms = timeout_ms}));
          if (order) order->push_back(topic);
          ev.notify();
        },
        asio::detached);
  }

  asio::io_context io;
  events ev;
};

awaitable<metadata_result> metadata(node_pool& pool, const std::string& topic,
                                    call_options opts = {.timeout_ms = 5000}) {
  auto req = metadata_for(topic);
  co_return co_await pool.call<protocol::metadata_request, protocol::metadata_response>(node_id{1},
                                                                                        req, opts);
}

}  // namespace

TEST(rpc_backoff, doubles_from_base_up_to_the_cap_within_the_jitter) {
  std::mt19937_64 rng(7);
  gregor::rpc::backoff_policy p;  // 50 ms .. 1000 ms, jitter 0.2
  const int64_t expected[] = {50, 100, 200, 400, 800, 1000, 1000, 1000};
  for (uint32_t failures = 1; failures <= 8; ++failures) {
    const int64_t d = gregor::rpc::backoff_delay_ms(p, failures, rng);
    EXPECT_GE(d, int64_t(expected[failures - 1] * 0.8) - 1) << failures;
    EXPECT_LE(d, int64_t(expected[failures - 1] * 1.2) + 1) << failures;
  }
  EXPECT_LE(gregor::rpc::backoff_delay_ms(p, 4000000000u, rng), 1200);
}

TEST(rpc_backoff, same_seed_gives_the_same_delays) {
  gregor::rpc::backoff_policy p;
  std::mt19937_64 a(99), b(99);
  for (uint32_t f = 1; f <= 10; ++f)
    EXPECT_EQ(gregor::rpc::backoff_delay_ms(p, f, a), gregor::rpc::backoff_delay_ms(p, f, b));
  p.jitter = 0;
  EXPECT_EQ(gregor::rpc::backoff_delay_ms(p, 3, a), 200);
}

TEST_F(rpc_test, negotiates_the_highest_common_version_and_honours_caps_and_forced_versions) {
  fake_broker broker(io, ev);
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options("gregor-broker-7"));
    pool.set_endpoint(node_id{1}, broker.address());
    auto r = co_await metadata(pool, "a");
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    EXPECT_EQ(topic_of(r), "a");
    r = co_await metadata(pool, "b", {.timeout_ms = 5000, .max_version = 4});
    EXPECT_EQ(topic_of(r), "b");
    r = co_await metadata(pool, "c", {.timeout_ms = 5000, .version = 1});
    EXPECT_EQ(topic_of(r), "c");
    // Above what the peer supports: refused without sending.
    r = co_await metadata(pool, "d", {.timeout_ms = 5000, .version = 13});
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, rpc_error_kind::unsupported_version);
      EXPECT_NE(r.error().message.find("node 1 (127.0.0.1:"), std::string::npos)
          << r.error().message;
    }
    co_await pool.stop();
  });
  const std::vector<std::pair<int16_t, int16_t>> expected{
      {18, 5}, {3, metadata_max_supported}, {3, 4}, {3, 1}};
  EXPECT_EQ(broker.seen, expected);
  for (const auto& id : broker.client_ids) EXPECT_EQ(id, "gregor-broker-7");
}

TEST_F(rpc_test, unsupported_api_versions_answer_is_retried_at_the_version_the_peer_lists) {
  fake_broker broker(io, ev);
  broker.api_versions_max = 3;
  run([&]() -> awaitable<void> {
    auto conn = connection::create(io.get_executor(), node_id{1}, broker.address(), {});
    auto opened = co_await conn->open();
    EXPECT_TRUE(opened.has_value()) << (opened ? "" : opened.error().message);
    EXPECT_EQ(conn->api_versions_version(), 3);
    EXPECT_EQ(conn->peer_versions(3),
              std::make_optional(std::pair<int16_t, int16_t>{0, metadata_max_supported}));
    auto req = metadata_for("x");
    auto r = co_await conn->call<protocol::metadata_request, protocol::metadata_response>(req);
    EXPECT_EQ(topic_of(r), "x");
    co_await conn->stop();
  });
  const std::vector<std::pair<int16_t, int16_t>> expected{
      {18, 5}, {18, 3}, {3, metadata_max_supported}};
  EXPECT_EQ(broker.seen, expected);
}

TEST_F(rpc_test, unsupported_api_versions_answer_without_api_versions_listed_is_retried_at_v0) {
  fake_broker broker(io, ev);
  broker.api_versions_max = 0;
  broker.list_api_versions = false;
  run([&]() -> awaitable<void> {
    auto conn = connection::create(io.get_executor(), node_id{1}, broker.address(), {});
    auto opened = co_await conn->open();
    EXPECT_TRUE(opened.has_value()) << (opened ? "" : opened.error().message);
    EXPECT_EQ(conn->api_versions_version(), 0);
    co_await conn->stop();
  });
  const std::vector<std::pair<int16_t, int16_t>> expected{{18, 5}, {18, 0}};
  EXPECT_EQ(broker.seen, expected);
}

TEST_F(rpc_test, pipelined_requests_complete_out_of_order_matched_by_correlation_id) {
  raw_broker broker(io, raw_broker::mode::reverse_pairs);
  std::optional<metadata_result> first, second;
  std::vector<std::string> order;
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options());
    pool.set_endpoint(node_id{1}, broker.address());
    // Connect first so that both requests go out on the same connection.
    auto conn = co_await pool.connection_for(node_id{1}, after(5s));
    EXPECT_TRUE(conn.has_value());
    spawn_metadata(pool, "first", 5000, first, &order);
    spawn_metadata(pool, "second", 5000, second, &order);
    EXPECT_TRUE(co_await ev.until([&] { return first && second; }));
    co_await pool.stop();
  });
  ASSERT_TRUE(first && second);
  EXPECT_EQ(topic_of(*first), "first");
  EXPECT_EQ(topic_of(*second), "second");
  EXPECT_EQ(order, (std::vector<std::string>{"second", "first"}));
}

TEST_F(rpc_test, several_requests_are_in_flight_on_one_connection) {
  fake_broker broker(io, ev);
  std::vector<std::optional<metadata_result>> results(4);
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options());
    pool.set_endpoint(node_id{1}, broker.address());
    for (size_t i = 0; i < results.size(); ++i) spawn_metadata(pool, "hold", 5000, results[i]);
    EXPECT_TRUE(co_await ev.until([&] { return broker.handling == results.size(); }));
    broker.release();
    EXPECT_TRUE(co_await ev.until([&] {
      return std::all_of(results.begin(), results.end(),
                         [](const auto& r) { return r.has_value(); });
    }));
    EXPECT_EQ(pool.connect_attempts(), 1u);
    co_await pool.stop();
  });
  for (size_t i = 0; i < results.size(); ++i) EXPECT_EQ(topic_of(*results[i]), "hold");
  EXPECT_EQ(broker.handling_max, 4u);
}

TEST_F(rpc_test, a_request_times_out_alone_and_its_late_response_is_dropped) {
  fake_broker broker(io, ev);
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options());
    pool.set_endpoint(node_id{1}, broker.address());
    auto r = co_await metadata(pool, "hold", {.timeout_ms = 50});
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, rpc_error_kind::timeout);
      EXPECT_NE(r.error().message.find("no response to Metadata"), std::string::npos)
          << r.error().message;
    }
    broker.release();
    r = co_await metadata(pool, "after");
    EXPECT_EQ(topic_of(r), "after");
    EXPECT_EQ(pool.connect_attempts(), 1u);  // the connection survived the timeout
    co_await pool.stop();
  });
}

TEST_F(rpc_test, server_closing_mid_request_fails_every_waiter_with_disconnected) {
  fake_broker broker(io, ev);
  std::optional<metadata_result> held, closing;
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options());
    pool.set_endpoint(node_id{1}, broker.address());
    spawn_metadata(pool, "hold", 5000, held);
    spawn_metadata(pool, "hold", 5000, closing);
    EXPECT_TRUE(co_await ev.until([&] { return broker.handling == 2; }));
    broker.drop_connections();
    EXPECT_TRUE(co_await ev.until([&] { return held && closing; }));
    co_await pool.stop();
  });
  ASSERT_TRUE(held && closing);
  for (const auto* r : {&*held, &*closing}) {
    EXPECT_FALSE(r->has_value());
    if (!r->has_value()) {
      EXPECT_EQ(r->error().kind, rpc_error_kind::disconnected) << r->error().message;
      EXPECT_NE(r->error().message.find("node 1 (127.0.0.1:"), std::string::npos)
          << r->error().message;
    }
  }
}

TEST_F(rpc_test, pool_reconnects_after_the_server_restarts) {
  auto broker = std::make_unique<fake_broker>(io, ev);
  const uint16_t port = broker->port();
  std::unique_ptr<fake_broker> restarted;
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options());
    pool.set_endpoint(node_id{1}, broker->address());
    auto r = co_await metadata(pool, "before");
    EXPECT_EQ(topic_of(r), "before");
    auto conn = co_await pool.connection_for(node_id{1}, after(5s));
    EXPECT_TRUE(conn.has_value());
    broker->shutdown();
    // The connection drops; the pool learns it on the next call.
    if (conn) {
      EXPECT_TRUE(co_await ev.until([&] { return conn.value()->is_closed(); }));
    }
    restarted = std::make_unique<fake_broker>(io, ev, port);
    // After the drop the pool backs off ~50 ms, then connects to the new server.
    r = co_await metadata(pool, "after", {.timeout_ms = 5000});
    EXPECT_EQ(topic_of(r), "after") << (r ? "" : r.error().message);
    EXPECT_EQ(pool.connect_attempts(), 2u);
    EXPECT_EQ(pool.failed_attempts(node_id{1}), 0u);
    co_await pool.stop();
  });
  EXPECT_EQ(restarted->seen.size(), 2u);  // ApiVersions, Metadata
}

TEST_F(rpc_test, failed_connects_back_off_exponentially_and_short_calls_fail_fast) {
  const uint16_t port = closed_port(io);
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options());
    pool.set_endpoint(node_id{1}, {"127.0.0.1", port});
    auto r = co_await metadata(pool, "a");
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, rpc_error_kind::connect_failed) << r.error().message;
    }
    EXPECT_EQ(pool.connect_attempts(), 1u);
    EXPECT_GT(pool.backoff_remaining_ms(node_id{1}), 0);
    EXPECT_LE(pool.backoff_remaining_ms(node_id{1}), 60);
    // A call whose deadline ends before the back-off does fails at once, without an attempt.
    r = co_await metadata(pool, "b", {.timeout_ms = 1});
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, rpc_error_kind::connect_failed);
      EXPECT_NE(r.error().message.find("back-off"), std::string::npos) << r.error().message;
    }
    EXPECT_EQ(pool.connect_attempts(), 1u);
    // A patient call waits the back-off out and makes the second attempt; the next back-off
    // doubles.
    const auto before = std::chrono::steady_clock::now();
    const auto remaining = std::chrono::milliseconds(pool.backoff_remaining_ms(node_id{1}));
    r = co_await metadata(pool, "c", {.timeout_ms = 5000});
    EXPECT_GE(std::chrono::steady_clock::now() - before, remaining);
    EXPECT_EQ(pool.connect_attempts(), 2u);
    EXPECT_EQ(pool.failed_attempts(node_id{1}), 2u);
    // The pool's delays are those of its seed: replay them.
    std::mt19937_64 rng(test_pool_options().rng_seed);
    const int64_t first_ms = gregor::rpc::backoff_delay_ms({}, 1, rng);
    const int64_t second_ms = gregor::rpc::backoff_delay_ms({}, 2, rng);
    EXPECT_GT(second_ms, first_ms);
    EXPECT_LE(pool.backoff_remaining_ms(node_id{1}), second_ms);
    EXPECT_GT(pool.backoff_remaining_ms(node_id{1}), first_ms / 2);
    co_await pool.stop();
  });
}

TEST_F(rpc_test, every_caller_waiting_on_a_connect_attempt_gets_its_error) {
  const uint16_t port = closed_port(io);
  std::optional<metadata_result> a, b, c;
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options());
    pool.set_endpoint(node_id{1}, {"127.0.0.1", port});
    spawn_metadata(pool, "a", 5000, a);
    spawn_metadata(pool, "b", 5000, b);
    spawn_metadata(pool, "c", 5000, c);
    EXPECT_TRUE(co_await ev.until([&] { return a && b && c; }));
    EXPECT_EQ(pool.connect_attempts(), 1u);
    co_await pool.stop();
  });
  for (const auto* r : {&a, &b, &c}) {
    ASSERT_TRUE(r->has_value());
    EXPECT_FALSE((*r)->has_value());
    if (!(*r)->has_value()) {
      EXPECT_EQ((*r)->error().kind, rpc_error_kind::connect_failed);
    }
  }
}

TEST_F(rpc_test, stop_fails_in_flight_and_waiting_calls_and_waits_for_them) {
  fake_broker broker(io, ev);
  const uint16_t port = closed_port(io);
  std::optional<metadata_result> held1, held2, other_node;
  bool stopped = false;
  run([&]() -> awaitable<void> {
    auto opts = test_pool_options();
    opts.backoff = {.base_ms = 10000, .max_ms = 10000, .jitter = 0};
    node_pool pool(io.get_executor(), opts);
    pool.set_endpoint(node_id{1}, broker.address());
    pool.set_endpoint(node_id{2}, {"127.0.0.1", port});
    // Node 2 refuses: the next call to it waits out a 10 s back-off.
    auto refused = co_await pool.call<protocol::metadata_request, protocol::metadata_response>(
        node_id{2}, metadata_for("x"), {.timeout_ms = 5000});
    EXPECT_FALSE(refused.has_value());
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          auto req = metadata_for("y");
          other_node.emplace(
              co_await pool.call<protocol::metadata_request, protocol::metadata_response>(
                  node_id{2}, req, {.timeout_ms = 30000}));
          ev.notify();
        },
        asio::detached);
    spawn_metadata(pool, "hold", 5000, held1);
    spawn_metadata(pool, "hold", 5000, held2);
    EXPECT_TRUE(co_await ev.until([&] { return broker.handling == 2; }));
    EXPECT_EQ(pool.calls_in_progress(), 3u);
    co_await pool.stop();
    stopped = true;
    EXPECT_TRUE(held1 && held2 && other_node);  // every call has returned when stop() does
    EXPECT_EQ(pool.calls_in_progress(), 0u);
    auto after_stop = co_await metadata(pool, "z");
    EXPECT_FALSE(after_stop.has_value());
    if (!after_stop) {
      EXPECT_EQ(after_stop.error().kind, rpc_error_kind::stopped);
    }
  });
  EXPECT_TRUE(stopped);
  for (const auto* r : {&held1, &held2, &other_node}) {
    ASSERT_TRUE(r->has_value());
    EXPECT_FALSE((*r)->has_value());
    if (!(*r)->has_value()) {
      EXPECT_EQ((*r)->error().kind, rpc_error_kind::stopped) << (*r)->error().message;
    }
  }
}

TEST_F(rpc_test, callers_beyond_the_in_flight_limit_queue_and_beyond_the_queue_are_refused) {
  fake_broker broker(io, ev);
  std::optional<metadata_result> h1, h2, queued, refused;
  run([&]() -> awaitable<void> {
    auto opts = test_pool_options();
    opts.connection.inflight_max = 2;
    opts.connection.queued_max = 1;
    node_pool pool(io.get_executor(), opts);
    pool.set_endpoint(node_id{1}, broker.address());
    spawn_metadata(pool, "hold", 5000, h1);
    spawn_metadata(pool, "hold", 5000, h2);
    EXPECT_TRUE(co_await ev.until([&] { return broker.handling == 2; }));
    spawn_metadata(pool, "queued", 5000, queued);
    spawn_metadata(pool, "refused", 5000, refused);
    EXPECT_TRUE(co_await ev.until([&] { return refused.has_value(); }));
    EXPECT_FALSE(queued.has_value());
    broker.release();
    EXPECT_TRUE(co_await ev.until([&] { return h1 && h2 && queued; }));
    co_await pool.stop();
  });
  ASSERT_TRUE(refused && queued);
  EXPECT_FALSE(refused->has_value());
  if (!refused->has_value()) {
    EXPECT_EQ(refused->error().kind, rpc_error_kind::overloaded);
  }
  EXPECT_EQ(topic_of(*queued), "queued");
  EXPECT_EQ(broker.handling_max, 2u);
}

TEST_F(rpc_test, many_concurrent_callers_share_the_slots_and_each_gets_its_own_answer) {
  fake_broker broker(io, ev);
  std::vector<std::optional<metadata_result>> results(300);
  run([&]() -> awaitable<void> {
    auto opts = test_pool_options();
    opts.connection.inflight_max = 8;
    node_pool pool(io.get_executor(), opts);
    pool.set_endpoint(node_id{1}, broker.address());
    for (size_t i = 0; i < results.size(); ++i)
      spawn_metadata(pool, "t" + std::to_string(i), 10000, results[i]);
    EXPECT_TRUE(co_await ev.until(
        [&] {
          return std::all_of(results.begin(), results.end(),
                             [](const auto& r) { return r.has_value(); });
        },
        10000ms));
    EXPECT_EQ(pool.connect_attempts(), 1u);
    co_await pool.stop();
  });
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].has_value()) << i;
    EXPECT_EQ(topic_of(*results[i]), "t" + std::to_string(i));
  }
  EXPECT_LE(broker.handling_max, 8u);
}

TEST_F(rpc_test, a_bogus_huge_response_size_closes_the_connection_before_allocating) {
  raw_broker broker(io, raw_broker::mode::huge_size);
  run([&]() -> awaitable<void> {
    gregor::rpc::connection_options opts;
    opts.response_bytes_max = 1 << 20;
    auto conn = connection::create(io.get_executor(), node_id{3}, broker.address(), opts);
    auto opened = co_await conn->open();
    EXPECT_TRUE(opened.has_value());
    auto req = metadata_for("x");
    auto r = co_await conn->call<protocol::metadata_request, protocol::metadata_response>(req);
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, rpc_error_kind::protocol_error);
      EXPECT_NE(r.error().message.find("2147483647"), std::string::npos) << r.error().message;
      EXPECT_NE(r.error().message.find("node 3"), std::string::npos) << r.error().message;
    }
    EXPECT_TRUE(conn->is_closed());
    co_await conn->stop();
  });
}

TEST_F(rpc_test, a_response_with_an_unknown_correlation_id_closes_the_connection) {
  raw_broker broker(io, raw_broker::mode::wrong_correlation_id);
  run([&]() -> awaitable<void> {
    auto conn = connection::create(io.get_executor(), node_id{1}, broker.address(), {});
    auto opened = co_await conn->open();
    EXPECT_TRUE(opened.has_value());
    auto req = metadata_for("x");
    auto r = co_await conn->call<protocol::metadata_request, protocol::metadata_response>(req);
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, rpc_error_kind::protocol_error);
      EXPECT_NE(r.error().message.find("matches no request"), std::string::npos)
          << r.error().message;
    }
    EXPECT_TRUE(conn->is_closed());
    co_await conn->stop();
  });
}

TEST_F(rpc_test, a_truncated_response_is_a_decode_error_and_the_connection_stays_open) {
  raw_broker broker(io, raw_broker::mode::truncated_body);
  run([&]() -> awaitable<void> {
    auto conn = connection::create(io.get_executor(), node_id{1}, broker.address(), {});
    auto opened = co_await conn->open();
    EXPECT_TRUE(opened.has_value());
    auto req = metadata_for("x");
    auto r = co_await conn->call<protocol::metadata_request, protocol::metadata_response>(req);
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, rpc_error_kind::decode_error);
      EXPECT_NE(r.error().message.find("malformed Metadata v12 response"), std::string::npos)
          << r.error().message;
    }
    EXPECT_TRUE(conn->is_ready());
    co_await conn->stop();
  });
}

TEST_F(rpc_test, a_peer_that_never_answers_api_versions_fails_the_open_within_the_connect_timeout) {
  raw_broker broker(io, raw_broker::mode::silent);
  run([&]() -> awaitable<void> {
    gregor::rpc::connection_options opts;
    opts.connect_timeout_ms = 100;
    auto conn = connection::create(io.get_executor(), node_id{4}, broker.address(), opts);
    const auto before = std::chrono::steady_clock::now();
    auto opened = co_await conn->open();
    EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
    EXPECT_FALSE(opened.has_value());
    if (!opened) {
      EXPECT_EQ(opened.error().kind, rpc_error_kind::connect_failed);
      EXPECT_NE(opened.error().message.find("no response to ApiVersions"), std::string::npos)
          << opened.error().message;
    }
    EXPECT_TRUE(conn->is_closed());
    co_await conn->stop();
  });
}

TEST_F(rpc_test, a_connection_whose_every_slot_timed_out_is_closed_and_replaced) {
  fake_broker broker(io, ev);
  run([&]() -> awaitable<void> {
    auto opts = test_pool_options();
    opts.connection.inflight_max = 1;
    node_pool pool(io.get_executor(), opts);
    pool.set_endpoint(node_id{1}, broker.address());
    auto r = co_await metadata(pool, "hold", {.timeout_ms = 50});
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, rpc_error_kind::timeout);
    }
    r = co_await metadata(pool, "next", {.timeout_ms = 5000});
    EXPECT_EQ(topic_of(r), "next");
    EXPECT_EQ(pool.connect_attempts(), 2u);
    co_await pool.stop();
  });
}

TEST_F(rpc_test, call_reply_keeps_the_frame_and_the_version_used) {
  fake_broker broker(io, ev);
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options());
    pool.set_endpoint(node_id{1}, broker.address());
    auto req = metadata_for("kept");
    auto r = co_await pool.call_reply<protocol::metadata_request, protocol::metadata_response>(
        node_id{1}, req, {.timeout_ms = 5000, .max_version = 9});
    EXPECT_TRUE(r.has_value());
    if (r) {
      EXPECT_EQ(r.value().version, 9);
      EXPECT_FALSE(r.value().frame.empty());
      EXPECT_EQ(*r.value().body.topics.at(0).name, "kept");
    }
    co_await pool.stop();
  });
}

TEST_F(rpc_test, unknown_nodes_and_endpoint_changes_are_reported) {
  fake_broker first(io, ev), second(io, ev);
  run([&]() -> awaitable<void> {
    node_pool pool(io.get_executor(), test_pool_options());
    auto r = co_await metadata(pool, "a");
    EXPECT_FALSE(r.has_value());
    if (!r) {
      EXPECT_EQ(r.error().kind, rpc_error_kind::unknown_node);
    }
    pool.set_endpoint(node_id{1}, first.address());
    r = co_await metadata(pool, "a");
    EXPECT_EQ(topic_of(r), "a");
    pool.set_endpoint(node_id{1}, second.address());
    r = co_await metadata(pool, "b");
    EXPECT_EQ(topic_of(r), "b");
    pool.remove_node(node_id{1});
    r = co_await metadata(pool, "c");
    EXPECT_FALSE(r.has_value());
    co_await pool.stop();
  });
  EXPECT_EQ(first.seen.size(), 2u);
  EXPECT_EQ(second.seen.size(), 2u);
}

// Metadata and CreateTopics against a real broker at 127.0.0.1:port (retrying while it starts).
awaitable<void> exercise_real_broker(asio::io_context& io, uint16_t port, const std::string& topic,
                                     int16_t api_versions_min, int16_t api_versions_max) {
  node_pool pool(io.get_executor(), test_pool_options("gregor-broker-1"));
  pool.set_endpoint(node_id{1}, {"127.0.0.1", port});
  // The broker needs a moment to listen: retry (each retry waits out the back-off).
  metadata_result r = co_await metadata(pool, "none");
  for (const steady_time end = after(15s); !r && std::chrono::steady_clock::now() < end;)
    r = co_await metadata(pool, "none", {.timeout_ms = 2000});
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  auto conn = co_await pool.connection_for(node_id{1}, after(5s));
  EXPECT_TRUE(conn.has_value());
  if (conn) {
    EXPECT_GE(conn.value()->api_versions_version(), api_versions_min);
    EXPECT_LE(conn.value()->api_versions_version(), api_versions_max);
  }
  protocol::create_topics_request create;
  create.timeout_ms = 10000;
  auto& t = create.topics.emplace_back();
  t.name = topic;
  t.num_partitions = 2;
  t.replication_factor = 1;
  auto created =
      co_await pool.call<protocol::create_topics_request, protocol::create_topics_response>(
          node_id{1}, create, {.timeout_ms = 10000});
  EXPECT_TRUE(created.has_value()) << (created ? "" : created.error().message);
  if (created) {
    EXPECT_EQ(created.value().topics.size(), 1u);
    if (!created.value().topics.empty()) {
      EXPECT_EQ(created.value().topics[0].error_code, 0);
    }
  }
  r = co_await metadata(pool, topic);
  EXPECT_EQ(topic_of(r), topic);
  if (r && !r.value().topics.empty()) {
    EXPECT_EQ(r.value().topics[0].partitions.size(), 2u);
  }
  co_await pool.stop();
}

// Against the real broker binary: set GREGOR_BIN to build/bin/gregor.
TEST_F(rpc_test, talks_to_the_real_broker_binary) {
  const char* bin = std::getenv("GREGOR_BIN");
  if (bin == nullptr || *bin == '\0') GTEST_SKIP() << "GREGOR_BIN is not set";
  const uint16_t port = closed_port(io);
  const auto dir =
      std::filesystem::temp_directory_path() / ("gregor-rpc-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::vector<std::string> args{bin,     "serve",
                                "--set", "listeners=PLAINTEXT://127.0.0.1:" + std::to_string(port),
                                "--set", "log.dirs=" + dir.string(),
                                "--set", "http.listeners="};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, bin, nullptr, nullptr, argv.data(), environ), 0);
  run([&]() -> awaitable<void> { co_await exercise_real_broker(io, port, "rpc-test", 3, 5); });
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::filesystem::remove_all(dir);
}

// Against a running Apache Kafka 4.x (tests/tools/run-reference-kafka.sh PORT DIR): set
// GREGOR_RPC_KAFKA_PORT. Kafka refuses our ApiVersions v5, so this also proves the retry at v4.
TEST_F(rpc_test, talks_to_a_running_apache_kafka) {
  const char* port_text = std::getenv("GREGOR_RPC_KAFKA_PORT");
  if (port_text == nullptr || *port_text == '\0')
    GTEST_SKIP() << "GREGOR_RPC_KAFKA_PORT is not set";
  const auto port = uint16_t(std::stoi(port_text));
  const std::string topic = "rpc-test-" + std::to_string(::getpid());
  run([&]() -> awaitable<void> { co_await exercise_real_broker(io, port, topic, 4, 4); });
}

// ---- host_resolver: one slow name never delays another ----------------------------------------

namespace {

using gregor::rpc::host_resolver;
using lookup_result = gregor::result<host_resolver::addresses, std::string>;

// A fake lookup: names in `slow` block until release(); others answer at once from `table`.
struct fake_dns {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::set<std::string> slow;
  std::map<std::string, std::string> table;
  std::map<std::string, int> calls;

  host_resolver::lookup_fn fn() {
    return [this](const std::string& host) -> lookup_result {
      std::unique_lock lock(mu);
      ++calls[host];
      if (slow.contains(host)) cv.wait(lock, [&] { return released; });
      auto it = table.find(host);
      if (it == table.end()) return gregor::failure{std::string("Name or service not known")};
      return host_resolver::addresses{asio::ip::make_address(it->second)};
    };
  }
  void release() {
    std::lock_guard lock(mu);
    released = true;
    cv.notify_all();
  }
  int calls_of(const std::string& host) {
    std::lock_guard lock(mu);
    return calls[host];
  }
};

awaitable<lookup_result> resolve(host_resolver& r, asio::any_io_executor ex, std::string host,
                                 std::chrono::milliseconds within) {
  auto op = r.resolve(ex, host, after(within));
  co_return co_await std::move(op);
}

std::string first_address(const lookup_result& r) {
  return r && !r->empty() ? r->front().to_string() : "<none>";
}

}  // namespace

TEST_F(rpc_test, a_slow_name_lookup_does_not_delay_the_lookup_of_another_name) {
  fake_dns dns;
  dns.slow = {"dead-broker"};
  dns.table = {{"live-broker", "127.0.0.1"}};
  host_resolver r(dns.fn(), 200);
  run([&]() -> awaitable<void> {
    std::optional<lookup_result> dead;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          dead.emplace(co_await resolve(r, io.get_executor(), "dead-broker", 10000ms));
          ev.notify();
        },
        asio::detached);
    EXPECT_TRUE(co_await ev.until([&] { return dns.calls_of("dead-broker") == 1; }));
    const auto t0 = std::chrono::steady_clock::now();
    auto live = co_await resolve(r, io.get_executor(), "live-broker", 10000ms);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 1000ms);
    EXPECT_EQ(first_address(live), "127.0.0.1");
    EXPECT_FALSE(dead.has_value()) << "the dead name's lookup is still running";
    // A numeric host never reaches the lookup.
    auto numeric = co_await resolve(r, io.get_executor(), "10.0.0.7", 10000ms);
    EXPECT_EQ(first_address(numeric), "10.0.0.7");
    EXPECT_EQ(dns.calls_of("10.0.0.7"), 0);
    dns.release();
    EXPECT_TRUE(co_await ev.until([&] { return dead.has_value(); }));
    EXPECT_TRUE(dead && !dead->has_value());
    EXPECT_TRUE(co_await ev.until([&] { return r.lookups_in_flight() == 0; }));
  });
}

// Found by ASan in CI: a lookup's thread held the last reference to a waiter whose caller had
// ended with its io_context, and destroyed the waiter's timer after the timer's service (and
// posted to the dead executor). The lookup holds weak references now: nothing of a caller that is
// gone is touched.
TEST_F(rpc_test, a_lookup_ending_after_its_callers_io_context_is_gone_touches_nothing_of_it) {
  fake_dns dns;
  dns.slow = {"dead-broker"};
  host_resolver r(dns.fn(), 200);
  {
    asio::io_context gone;
    asio::co_spawn(
        gone, [&]() -> awaitable<void> { (void)co_await resolve(r, gone.get_executor(), "dead-broker", 60000ms); },
        asio::detached);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (dns.calls_of("dead-broker") == 0 && std::chrono::steady_clock::now() < deadline) gone.run_for(10ms);
    ASSERT_EQ(dns.calls_of("dead-broker"), 1);
  }  // the caller's coroutine and its io_context end while the lookup still runs
  dns.release();
  run([&]() -> awaitable<void> {
    EXPECT_TRUE(co_await ev.until([&] { return r.lookups_in_flight() == 0; }));
    // The name is looked up afresh for a new caller (the failed lookup cached nothing).
    auto again = co_await resolve(r, io.get_executor(), "dead-broker", 10000ms);
    EXPECT_FALSE(again.has_value());
    EXPECT_EQ(dns.calls_of("dead-broker"), 2);
  });
}

TEST_F(rpc_test, callers_of_one_slow_name_share_its_lookup_and_time_out_at_their_deadline) {
  fake_dns dns;
  dns.slow = {"dead-broker"};
  host_resolver r(dns.fn(), 200);
  run([&]() -> awaitable<void> {
    int timed_out = 0;
    for (int i = 0; i < 5; ++i)
      asio::co_spawn(
          io,
          [&]() -> awaitable<void> {
            auto res = co_await resolve(r, io.get_executor(), "dead-broker", 300ms);
            if (!res && res.error().find("timed out") != std::string::npos) ++timed_out;
            ev.notify();
          },
          asio::detached);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(co_await ev.until([&] { return timed_out == 5; }, 5000ms));
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
    EXPECT_EQ(dns.calls_of("dead-broker"), 1) << "one lookup for all five callers";
    dns.release();
    EXPECT_TRUE(co_await ev.until([&] { return r.lookups_in_flight() == 0; }));
  });
}

TEST_F(rpc_test, the_last_good_addresses_answer_while_a_new_lookup_of_the_name_is_slow) {
  fake_dns dns;
  dns.table = {{"broker-b", "10.1.2.3"}};
  host_resolver r(dns.fn(), 200);
  run([&]() -> awaitable<void> {
    auto first = co_await resolve(r, io.get_executor(), "broker-b", 5000ms);
    EXPECT_EQ(first_address(first), "10.1.2.3");
    {
      std::lock_guard lock(dns.mu);
      dns.slow = {"broker-b"};
      dns.table["broker-b"] = "10.1.2.4";
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto again = co_await resolve(r, io.get_executor(), "broker-b", 10000ms);
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(first_address(again), "10.1.2.3");
    EXPECT_GE(took, 150ms);
    EXPECT_LT(took, 2000ms) << "waited beyond the grace for a slow lookup";
    EXPECT_EQ(r.lookups_in_flight(), 1u);
    // The lookup goes on and refreshes the addresses kept.
    dns.release();
    EXPECT_TRUE(co_await ev.until([&] { return r.lookups_in_flight() == 0; }));
    auto kept = r.cached("broker-b");
    EXPECT_TRUE(kept && !kept->empty() && kept->front().to_string() == "10.1.2.4");
  });
}

TEST_F(rpc_test, a_pool_reaches_a_named_broker_while_another_name_hangs) {
  fake_broker broker(io, ev);
  fake_dns dns;
  dns.slow = {"dead-broker"};
  dns.table = {{"live-broker", "127.0.0.1"}};
  auto r = std::make_shared<host_resolver>(dns.fn(), 200);
  run([&]() -> awaitable<void> {
    auto opts = test_pool_options();
    opts.connection.connect_timeout_ms = 8000;
    opts.connection.resolver = r;
    node_pool pool(io.get_executor(), opts);
    pool.set_endpoint(node_id{1}, {"live-broker", broker.port()});
    pool.set_endpoint(node_id{2}, {"dead-broker", broker.port()});
    std::optional<metadata_result> dead;
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          auto req = metadata_for("x");
          dead.emplace(co_await pool.call<protocol::metadata_request, protocol::metadata_response>(
              node_id{2}, req, {.timeout_ms = 8000}));
          ev.notify();
        },
        asio::detached);
    EXPECT_TRUE(co_await ev.until([&] { return dns.calls_of("dead-broker") == 1; }));
    const auto t0 = std::chrono::steady_clock::now();
    auto live = co_await metadata(pool, "a");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
    EXPECT_EQ(topic_of(live), "a");
    EXPECT_FALSE(dead.has_value());
    dns.release();
    EXPECT_TRUE(co_await ev.until([&] { return dead.has_value(); }));
    if (dead && !dead->has_value())
      EXPECT_NE(dead->error().message.find("could not resolve dead-broker"), std::string::npos)
          << dead->error().message;
    else
      ADD_FAILURE() << "a name that does not resolve cannot be reached";
    co_await pool.stop();
    EXPECT_TRUE(co_await ev.until([&] { return r->lookups_in_flight() == 0; }));
  });
}

namespace {

// A TLS fake broker whose certificate (signed by `ca`) names `san`; the client trusts `trusted`.
struct tls_setup {
  gregor::test::key_and_cert ca = gregor::test::make_cert({{"CN", "rpc-test-ca"}}, nullptr, true);
  std::shared_ptr<asio::ssl::context> server_context(const char* san) {
    auto leaf = gregor::test::make_cert({{"CN", "broker"}}, &ca, false, san);
    gregor::net::tls_settings s;
    s.listener = "SSL";
    s.keystore_type = "PEM";
    s.keystore_key = gregor::test::pem_of(leaf.key);
    s.keystore_certificate_chain = gregor::test::pem_of(leaf.cert);
    auto ctx = gregor::net::make_server_tls_context(s);
    EXPECT_TRUE(ctx.has_value()) << (ctx ? "" : ctx.error());
    return ctx ? *ctx : nullptr;
  }
  std::shared_ptr<asio::ssl::context> client_context(const gregor::test::key_and_cert& trusted) {
    gregor::net::tls_settings s;
    s.listener = "SSL";
    s.truststore_type = "PEM";
    s.truststore_certificates = gregor::test::pem_of(trusted.cert);
    auto ctx = gregor::net::make_client_tls_context(s);
    EXPECT_TRUE(ctx.has_value()) << (ctx ? "" : ctx.error());
    return ctx ? *ctx : nullptr;
  }
};

}  // namespace

TEST_F(rpc_test, calls_go_over_tls_when_the_pool_has_a_client_context) {
  tls_setup t;
  fake_broker broker(io, ev, 0, t.server_context("DNS:localhost,IP:127.0.0.1"));
  run([&]() -> awaitable<void> {
    auto opts = test_pool_options("tls-client");
    opts.connection.tls = t.client_context(t.ca);
    node_pool pool(io.get_executor(), opts);
    pool.set_endpoint(node_id{1}, broker.address());  // 127.0.0.1: checked against the IP SAN
    auto r = co_await metadata(pool, "over-tls");
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    EXPECT_EQ(topic_of(r), "over-tls");
    pool.set_endpoint(node_id{1}, {"localhost", broker.port()});  // DNS SAN
    r = co_await metadata(pool, "by-name");
    EXPECT_EQ(topic_of(r), "by-name");
    co_await pool.stop();
  });
}

TEST_F(rpc_test, a_replaced_tls_source_context_is_used_by_the_next_connection) {
  // Certificate rotation on the broker's own connections: the pool's source starts with a trust
  // store that does not trust the server; once replaced, the next connect trusts it.
  tls_setup t;
  auto other_ca = gregor::test::make_cert({{"CN", "other-ca"}}, nullptr, true);
  fake_broker broker(io, ev, 0, t.server_context("IP:127.0.0.1"));
  run([&]() -> awaitable<void> {
    auto opts = test_pool_options("tls-client");
    auto source = std::make_shared<tls_client_source>(t.client_context(other_ca));
    opts.connection.tls_source = source;
    node_pool pool(io.get_executor(), opts);
    pool.set_endpoint(node_id{1}, broker.address());
    auto r = co_await metadata(pool, "before");
    EXPECT_FALSE(r.has_value());
    if (!r) EXPECT_NE(r.error().message.find("TLS handshake failed"), std::string::npos) << r.error().message;
    source->replace(t.client_context(t.ca));
    r = co_await metadata(pool, "after");
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    EXPECT_EQ(topic_of(r), "after");
    // Open connections keep the context they were made with: going back does not break them.
    source->replace(t.client_context(other_ca));
    r = co_await metadata(pool, "still-open");
    EXPECT_EQ(topic_of(r), "still-open");
    co_await pool.stop();
  });
}

TEST_F(rpc_test, a_tls_server_with_an_untrusted_or_misnamed_certificate_is_refused) {
  tls_setup t;
  auto other_ca = gregor::test::make_cert({{"CN", "other-ca"}}, nullptr, true);
  fake_broker untrusted(io, ev, 0, t.server_context("IP:127.0.0.1"));
  fake_broker misnamed(io, ev, 0, t.server_context("DNS:elsewhere.example"));
  run([&]() -> awaitable<void> {
    auto opts = test_pool_options("tls-client");
    opts.connection.tls = t.client_context(other_ca);
    node_pool pool(io.get_executor(), opts);
    pool.set_endpoint(node_id{1}, untrusted.address());
    auto r = co_await metadata(pool, "x");
    EXPECT_FALSE(r.has_value());
    if (!r) EXPECT_NE(r.error().message.find("TLS handshake failed"), std::string::npos) << r.error().message;
    co_await pool.stop();

    auto opts2 = test_pool_options("tls-client");
    opts2.connection.tls = t.client_context(t.ca);
    node_pool pool2(io.get_executor(), opts2);
    pool2.set_endpoint(node_id{1}, misnamed.address());
    r = co_await metadata(pool2, "y");
    EXPECT_FALSE(r.has_value());
    if (!r) EXPECT_NE(r.error().message.find("mismatch"), std::string::npos) << r.error().message;
    co_await pool2.stop();
  });
}
