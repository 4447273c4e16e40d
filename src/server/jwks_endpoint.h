#pragma once
// An http(s) JWKS endpoint (sasl.oauthbearer.jwks.endpoint.url with an http: or https: URL), kept
// as Kafka's RefreshingHttpsJwks keeps it: fetched once when the broker starts (a failure stops
// the start, as Kafka's validator fails to configure), then re-fetched every
// sasl.oauthbearer.jwks.endpoint.refresh.ms on a thread of its own. A failed fetch is retried
// with exponential backoff (…retry.backoff.ms, doubling, for up to …retry.backoff.max.ms) while
// the last good keys stay in use. A token whose key id the set lacks asks for an early refresh
// (key_missing; once a minute per id at most, as Kafka's missing-key-id cache), and that token is
// refused: a client that retries after the provider rotated its keys gets in.
//
// The trust of an https endpoint: the ssl.truststore.* and ssl.endpoint.identification.algorithm
// options of the listener's OAUTHBEARER JAAS config (Kafka's JaasOptionsUtils), else the
// system's CAs with host name verification. Used by oauthbearer_validation.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "gregor/base/result.h"
#include "gregor/net/tls.h"
#include "gregor/security/oauthbearer.h"

namespace gregor::server {

struct http_url {
  std::string scheme;  // "http" or "https"
  std::string host;    // a name or an address ([v6] without the brackets)
  std::string port;    // the URL's, else 80 / 443
  std::string target;  // path and query, "/" at least
};
// An absolute http: or https: URL without user info; else why not.
result<http_url, std::string> parse_http_url(std::string_view url);

// One GET of `url` (HTTP/1.1, TLS for https with `tls`, the host name or address checked against
// the certificate when `verify_host`), bounded by `timeout_ms` in all. The body of a 200 answer
// (at most 1 MiB), else why not.
result<std::string, std::string> http_get(const http_url& url, const net::tls_context_ptr& tls, bool verify_host,
                                          int64_t timeout_ms);

class jwks_endpoint {
 public:
  struct options {
    std::string url;
    std::string url_key = "sasl.oauthbearer.jwks.endpoint.url";  // named in errors
    net::tls_settings trust;  // trust store settings for https (empty: the system's CAs)
    bool verify_host = true;
    int64_t refresh_ms = 3'600'000;
    int64_t retry_backoff_ms = 100;
    int64_t retry_backoff_max_ms = 10'000;
    int64_t timeout_ms = 10'000;  // one fetch
    int64_t missing_kid_interval_ms = 60'000;
  };

  // Fetches the JWKS (with the retries) and starts the refresh thread; an error, naming the
  // URL's key, when the endpoint cannot be reached, answers other than 200, or holds no usable key.
  static result<std::unique_ptr<jwks_endpoint>, std::string> start(options o);
  ~jwks_endpoint();
  jwks_endpoint(const jwks_endpoint&) = delete;
  jwks_endpoint& operator=(const jwks_endpoint&) = delete;

  // The keys of the last good fetch.
  std::shared_ptr<const security::jwk_set> keys() const;
  // A token named `kid`, which keys() lacks: refresh now unless this id asked within the interval.
  // Whether a refresh was asked for.
  bool key_missing(std::string_view kid);
  // Successful fetches so far (the first included).
  uint64_t fetches() const { return _fetches.load(); }
  const std::string& url() const { return _o.url; }

 private:
  explicit jwks_endpoint(options o) : _o(std::move(o)) {}
  // One fetch with its retries; the new keys are installed on success.
  result<void, std::string> refresh();
  result<void, std::string> fetch_once();
  void run();

  options _o;
  http_url _url;
  net::tls_context_ptr _tls;
  mutable std::mutex _mu;
  std::condition_variable _cv;
  std::shared_ptr<const security::jwk_set> _keys;
  bool _stop = false;
  bool _expedite = false;
  std::map<std::string, int64_t> _missing;  // kid -> when it last asked (steady ms)
  std::atomic<uint64_t> _fetches{0};
  std::thread _thread;
};

}  // namespace gregor::server
