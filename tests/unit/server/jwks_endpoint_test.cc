// Proves the http(s) JWKS endpoint as Kafka's RefreshingHttpsJwks behaves: fetched at start (a
// failure names the key), refreshed on its period and early for an unknown key id (once per
// interval), the last good keys kept while the endpoint fails. A plain-HTTP server in the test
// process answers; the https path is proven end to end by tests/integration/test_sasl_oauthbearer_https.py.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "../../../src/server/jwks_endpoint.h"

namespace gregor::server {
namespace {

// A P-256 public key (RFC 7515 A.3) as a JWK with the given kid.
std::string ec_jwk(const std::string& kid) {
  return R"({"kty":"EC","crv":"P-256","kid":")" + kid +
         R"(","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})";
}
std::string jwks_of(const std::vector<std::string>& kids) {
  std::string keys;
  for (const auto& k : kids) keys += (keys.empty() ? "" : ",") + ec_jwk(k);
  return R"({"keys":[)" + keys + "]}";
}

// Answers every GET with the current status and body; counts the requests.
class http_server {
 public:
  http_server() {
    _fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(_fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(_fd, 16), 0);
    socklen_t len = sizeof a;
    ::getsockname(_fd, reinterpret_cast<sockaddr*>(&a), &len);
    _port = ntohs(a.sin_port);
    _thread = std::thread([this] { serve(); });
  }
  ~http_server() {
    _stop = true;
    ::shutdown(_fd, SHUT_RDWR);
    ::close(_fd);
    _thread.join();
  }
  void answer(int status, std::string body) {
    std::lock_guard lock(_mu);
    _status = status;
    _body = std::move(body);
  }
  int requests() const { return _requests.load(); }
  std::string url(const std::string& path = "/jwks") const {
    return "http://127.0.0.1:" + std::to_string(_port) + path;
  }

 private:
  void serve() {
    while (!_stop) {
      const int c = ::accept(_fd, nullptr, nullptr);
      if (c < 0) return;
      std::string req;
      char buf[1024];
      while (req.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, size_t(n));
      }
      std::string status_line, body;
      {
        std::lock_guard lock(_mu);
        status_line = std::to_string(_status) + (_status == 200 ? " OK" : " Error");
        body = _body;
      }
      if (req.starts_with("GET /jwks ")) ++_requests;
      const std::string resp = "HTTP/1.1 " + status_line + "\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      (void)::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  int _fd = -1;
  uint16_t _port = 0;
  std::atomic<bool> _stop{false};
  std::atomic<int> _requests{0};
  std::mutex _mu;
  int _status = 200;
  std::string _body;
  std::thread _thread;
};

// Polls `cond` for up to 30 s (the refresh thread runs on its own schedule).
bool eventually(const std::function<bool()>& cond) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

TEST(jwks_endpoint, http_urls_parse_with_their_default_ports) {
  auto u = parse_http_url("https://idp.example/oauth2/v1/keys?x=1#frag");
  ASSERT_TRUE(u.has_value()) << u.error();
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "idp.example");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/oauth2/v1/keys?x=1");
  u = parse_http_url(" HTTP://[::1]:8080 ");
  ASSERT_TRUE(u.has_value()) << u.error();
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/");
  EXPECT_FALSE(parse_http_url("ftp://idp/keys").has_value());
  EXPECT_FALSE(parse_http_url("https:///keys").has_value());
  EXPECT_FALSE(parse_http_url("https://user:pw@idp/keys").has_value());
  EXPECT_FALSE(parse_http_url("https://idp:0/keys").has_value());
  EXPECT_FALSE(parse_http_url("https://idp:http/keys").has_value());
  EXPECT_FALSE(parse_http_url("https://[::1/keys").has_value());
}

TEST(jwks_endpoint, the_first_fetch_decides_the_start_and_names_the_key) {
  http_server server;
  server.answer(404, "no");
  jwks_endpoint::options o;
  o.url = server.url();
  o.url_key = "listener.name.sasl.sasl.oauthbearer.jwks.endpoint.url";
  o.retry_backoff_ms = 1;
  o.retry_backoff_max_ms = 20;
  auto e = jwks_endpoint::start(o);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("config 'listener.name.sasl.sasl.oauthbearer.jwks.endpoint.url'"), std::string::npos)
      << e.error();
  EXPECT_NE(e.error().find("HTTP 404"), std::string::npos) << e.error();
  EXPECT_GE(server.requests(), 2);  // retried with backoff before giving up

  server.answer(200, R"({"keys":[{"kty":"oct","k":"AAAA"}]})");
  e = jwks_endpoint::start(o);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("no usable verification key"), std::string::npos) << e.error();

  server.answer(200, "<html>");
  e = jwks_endpoint::start(o);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("not a JWKS"), std::string::npos) << e.error();

  server.answer(200, jwks_of({"a", "b"}));
  e = jwks_endpoint::start(o);
  ASSERT_TRUE(e.has_value()) << e.error();
  EXPECT_EQ((*e)->keys()->size(), 2u);
  EXPECT_TRUE((*e)->keys()->has_kid("b"));
  EXPECT_EQ((*e)->fetches(), 1u);
}

TEST(jwks_endpoint, nothing_listening_is_a_start_error) {
  int port = 0;
  {
    http_server gone;  // a port that was free a moment ago
    port = std::stoi(gone.url().substr(std::string("http://127.0.0.1:").size()));
  }
  jwks_endpoint::options o;
  o.url = "http://127.0.0.1:" + std::to_string(port) + "/jwks";
  o.retry_backoff_ms = 1;
  o.retry_backoff_max_ms = 5;
  auto e = jwks_endpoint::start(o);
  ASSERT_FALSE(e.has_value());
  EXPECT_NE(e.error().find("cannot connect"), std::string::npos) << e.error();
}

TEST(jwks_endpoint, refreshes_on_its_period_and_keeps_the_last_good_keys) {
  http_server server;
  server.answer(200, jwks_of({"one"}));
  jwks_endpoint::options o;
  o.url = server.url();
  o.refresh_ms = 20;
  o.retry_backoff_ms = 1;
  o.retry_backoff_max_ms = 5;
  auto e = jwks_endpoint::start(o);
  ASSERT_TRUE(e.has_value()) << e.error();
  server.answer(200, jwks_of({"one", "two"}));
  EXPECT_TRUE(eventually([&] { return (*e)->keys()->has_kid("two"); }));
  // The endpoint fails: the keys stay, and it is asked again on the next periods.
  server.answer(500, "down");
  const int before = server.requests();
  EXPECT_TRUE(eventually([&] { return server.requests() >= before + 3; }));
  EXPECT_TRUE((*e)->keys()->has_kid("two"));
  EXPECT_EQ((*e)->keys()->size(), 2u);
}

TEST(jwks_endpoint, an_unknown_key_id_refreshes_early_once_per_interval) {
  http_server server;
  server.answer(200, jwks_of({"old"}));
  jwks_endpoint::options o;
  o.url = server.url();
  o.refresh_ms = 3'600'000;  // no periodic refresh during the test
  auto e = jwks_endpoint::start(o);
  ASSERT_TRUE(e.has_value()) << e.error();
  ASSERT_EQ((*e)->fetches(), 1u);
  server.answer(200, jwks_of({"old", "new"}));
  EXPECT_TRUE((*e)->key_missing("new"));
  EXPECT_TRUE(eventually([&] { return (*e)->keys()->has_kid("new"); }));
  EXPECT_TRUE(eventually([&] { return (*e)->fetches() == 2u; }));
  // The same id again within the interval does not ask; another id does.
  EXPECT_FALSE((*e)->key_missing("new"));
  EXPECT_TRUE((*e)->key_missing("other"));
  EXPECT_TRUE(eventually([&] { return (*e)->fetches() >= 3u; }));
  EXPECT_FALSE((*e)->key_missing("other"));
  EXPECT_FALSE((*e)->key_missing(std::string(2000, 'k')));  // not remembered, no refresh
  EXPECT_EQ(server.requests(), int((*e)->fetches()));
}

}  // namespace
}  // namespace gregor::server
