#pragma once
// client_session: the security state of one client connection: who it is (the principal), and
// where it stands in SASL authentication. Owned by the dispatcher (created with the connection's
// first frame, dropped when it closes) and shared with the handlers of its requests.
//
// Stages (Kafka's SaslServerAuthenticator): a SASL listener's connection starts at
// need_handshake; SaslHandshake picks a mechanism (need_authenticate); SaslAuthenticate exchanges
// tokens until the mechanism succeeds (authenticated) or fails (the connection is closed after
// the error). Before authenticated, only ApiVersions, SaslHandshake and SaslAuthenticate are
// served. Other listeners start authenticated (principal User:ANONYMOUS, or on SSL listeners the
// client certificate's mapped subject).
// KIP-368: with connections.max.reauth.ms, the session expires; the client re-authenticates with
// a new SaslHandshake + SaslAuthenticate on the same connection (same principal), else the
// connection is closed at its first request after expiry.
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace gregor::security {
class sasl_server;
}

namespace gregor::server {

struct client_session {
  enum class stage { need_handshake, need_authenticate, authenticated };
  stage at = stage::authenticated;
  bool sasl = false;               // the connection arrived on a SASL listener
  bool reauthenticating = false;   // a KIP-368 re-authentication is in progress
  bool raw_tokens = false;         // SaslHandshake v0: tokens come as bare frames
  std::string mechanism;           // chosen by SaslHandshake
  std::shared_ptr<security::sasl_server> exchange;  // the SASL exchange in progress
  std::string principal = "User:ANONYMOUS";
  std::string host;                // the peer's address, for ACLs
  std::string refused;             // non-empty: the connection may not authenticate (why)
  // KIP-368: the session ends here (steady clock); max() = never.
  std::chrono::steady_clock::time_point expires = std::chrono::steady_clock::time_point::max();
};

// One SASL token of the connection's exchange (SaslAuthenticate, or a bare token after
// SaslHandshake v0): the mechanism's answer; on done the session is authenticated (principal,
// KIP-368 expiry). Implemented in handlers/sasl.cc.
struct sasl_result {
  enum class state { next, done, failed } what = state::next;
  std::vector<uint8_t> response;
  std::string error_message;        // for the client, on failed
  int64_t session_lifetime_ms = 0;  // on done, with connections.max.reauth.ms
};

}  // namespace gregor::server

namespace gregor::net {
struct connection_info;
}

namespace gregor::server {
class core;
sasl_result sasl_step(core& c, client_session& s, const net::connection_info& conn, std::span<const uint8_t> token);

}  // namespace gregor::server
