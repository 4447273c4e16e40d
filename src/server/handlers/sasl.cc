// SaslHandshake (key 17, v0-1) and SaslAuthenticate (key 36, v0-2): SASL authentication on
// SASL_PLAINTEXT / SASL_SSL listeners, as Kafka's SaslServerAuthenticator does it. The mechanism
// servers are the security module's (PLAIN against the listener's JAAS users, SCRAM against the
// credentials in the metadata image); the connection's state is its client_session (session.h).
// A failed exchange answers SASL_AUTHENTICATION_FAILED and closes the connection, as Kafka does.
// After SaslHandshake v0 the tokens travel as bare frames (no request header) and are answered
// the same way: the dispatcher hands them to sasl_step() and closes the connection on failure.
// KIP-368: with connections.max.reauth.ms, or a credential that expires (OAUTHBEARER: the token's
// exp), SaslAuthenticate v1+ tells the session lifetime and a later SaslHandshake +
// SaslAuthenticate re-authenticates the same principal.
// OAUTHBEARER tokens are checked by validate_oauthbearer_token (the listener's JWKS file or
// endpoint, and claim settings); a refused token is answered with Kafka's {"status":"invalid_token"}
// challenge, and the client's %x01 reply fails the authentication with that message.
#include <algorithm>
#include <chrono>

#include "gregor/base/log.h"
#include "gregor/protocol/messages/sasl_authenticate.h"
#include "gregor/protocol/messages/sasl_handshake.h"
#include "gregor/security/jaas.h"
#include "gregor/security/oauthbearer.h"
#include "gregor/security/plain.h"
#include "gregor/security/sasl.h"
#include "gregor/security/scram.h"
#include "handlers.h"
#include "../oauthbearer_validation.h"

namespace gregor::server {
namespace {
using protocol::error_code;

// The PLAIN users of a listener (listener.name.<l>.plain.sasl.jaas.config; checked at start-up).
std::map<std::string, std::string> plain_users_of(const config::broker_config& cfg, const std::string& listener) {
  auto text = config::listener_value(cfg, listener, "plain.sasl.jaas.config");
  if (!text) return {};
  auto entry = security::parse_jaas_config_entry(*text);
  if (!entry) return {};
  return security::plain_users(*entry);
}

int64_t unix_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<security::sasl_server> new_exchange(core& c, const std::string& listener, const std::string& mechanism) {
  if (mechanism == "PLAIN") return std::make_shared<security::plain_server>(plain_users_of(c.config(), listener));
  if (mechanism == "OAUTHBEARER") {
    // The core outlives the connections and their exchanges.
    core* cp = &c;
    return std::make_shared<security::oauthbearer_server>([cp, listener](std::string_view token) {
      return validate_oauthbearer_token(cp->config(), listener, token, unix_now_ms(), cp->oauth_keys());
    });
  }
  auto m = security::scram_mechanism_from_name(mechanism);
  if (!m) return nullptr;
  const int8_t type = security::scram_mechanism_type(*m);
  core* cp = &c;
  security::scram_server::lookup_fn lookup = [cp, type](const std::string& user) -> std::optional<security::scram_credential> {
    const auto& all = cp->image().scram_credentials();
    auto it = all.find(user);
    if (it == all.end()) return std::nullopt;
    auto cred = it->second.find(type);
    if (cred == it->second.end()) return std::nullopt;
    return security::scram_credential{cred->second.salt, cred->second.stored_key, cred->second.server_key,
                                      cred->second.iterations};
  };
  return std::make_shared<security::scram_server>(*m, std::move(lookup));
}

using hs_req_t = protocol::sasl_handshake_request;
using hs_resp_t = protocol::sasl_handshake_response;

boost::asio::awaitable<std::optional<hs_resp_t>> handshake(core& c, request_context& ctx, hs_req_t& req) {
  hs_resp_t resp;
  auto& s = *ctx.session;
  if (!s.sasl) {
    resp.error_code = code(error_code::illegal_sasl_state);
    co_return resp;
  }
  const bool reauth = s.at == client_session::stage::authenticated;
  if (reauth && s.expires == std::chrono::steady_clock::time_point::max()) {
    // Re-authentication is offered only to a session with a lifetime (KIP-368).
    resp.error_code = code(error_code::illegal_sasl_state);
    ctx.close_after_response = true;
    co_return resp;
  }
  if (s.at == client_session::stage::need_authenticate) {
    resp.error_code = code(error_code::illegal_sasl_state);
    ctx.close_after_response = true;
    co_return resp;
  }
  resp.mechanisms = config::listener_sasl_mechanisms(c.config(), ctx.conn.listener_name);
  const bool enabled = std::find(resp.mechanisms.begin(), resp.mechanisms.end(), req.mechanism) != resp.mechanisms.end();
  auto exchange = enabled ? new_exchange(c, ctx.conn.listener_name, req.mechanism) : nullptr;
  if (!exchange || (reauth && req.mechanism != s.mechanism)) {
    log::get("server").info("SASL handshake from {} refused: mechanism '{}' is not enabled on listener {}",
                            ctx.conn.peer, req.mechanism, ctx.conn.listener_name);
    resp.error_code = code(error_code::unsupported_sasl_mechanism);
    ctx.close_after_response = true;
    co_return resp;
  }
  s.mechanism = req.mechanism;
  s.exchange = std::move(exchange);
  // v0: the tokens follow as bare size-prefixed frames, not SaslAuthenticate (kafka-python 2.0).
  s.raw_tokens = ctx.version() == 0;
  if (reauth) {
    s.reauthenticating = true;
  } else {
    s.at = client_session::stage::need_authenticate;
  }
  co_return resp;
}

using auth_req_t = protocol::sasl_authenticate_request;
using auth_resp_t = protocol::sasl_authenticate_response;

boost::asio::awaitable<std::optional<auth_resp_t>> authenticate(core& c, request_context& ctx, auth_req_t& req) {
  auth_resp_t resp;
  auto& s = *ctx.session;
  if (!s.exchange) {
    resp.error_code = code(error_code::illegal_sasl_state);
    const bool authenticated = s.at == client_session::stage::authenticated;
    resp.error_message = authenticated ? "SaslAuthenticate request received after successful authentication"
                                       : "Unexpected SaslAuthenticate request: no SaslHandshake first";
    // Kafka answers and keeps the connection on a listener without SASL and after authentication
    // (KafkaApis serves it); only a SASL listener's authenticator, still waiting for a handshake,
    // closes it.
    ctx.close_after_response = !authenticated;
    co_return resp;
  }
  sasl_result r = sasl_step(c, s, ctx.conn, req.auth_bytes);
  resp.auth_bytes = std::move(r.response);
  if (r.what == sasl_result::state::failed) {
    resp.error_code = code(error_code::sasl_authentication_failed);
    resp.error_message = r.error_message;
    ctx.close_after_response = true;
  } else if (r.what == sasl_result::state::done) {
    resp.session_lifetime_ms = r.session_lifetime_ms;
    ctx.authenticated_now = true;
  }
  co_return resp;
}

}  // namespace

sasl_result sasl_step(core& c, client_session& s, const net::connection_info& conn, std::span<const uint8_t> token) {
  sasl_result out;
  if (!s.exchange) {
    out.what = sasl_result::state::failed;
    out.error_message = "Unexpected SASL token: no SaslHandshake first";
    return out;
  }
  const security::sasl_step step = s.exchange->handle(token);
  out.response = step.response;
  if (step.what == security::sasl_step::state::next) {
    if (!step.error.empty())
      log::get("server").warn("SASL {} token from {} on {} refused: {}", s.mechanism, conn.peer, conn.listener_name,
                              step.error);
    return out;
  }
  if (step.what == security::sasl_step::state::failed) {
    log::get("server").info("SASL {} authentication from {} on {} failed: {}", s.mechanism, conn.peer,
                            conn.listener_name, step.error);
    out.what = sasl_result::state::failed;
    out.error_message = step.error_is_public ? step.error
                                             : security::sasl_generic_failure_message(s.mechanism, s.reauthenticating);
    s.exchange.reset();
    return out;
  }
  const std::string principal = "User:" + s.exchange->username();
  const std::optional<int64_t> credential_expiry_ms = s.exchange->credential_expiry_ms();
  s.exchange.reset();
  if (s.reauthenticating && principal != s.principal) {
    log::get("server").info("SASL re-authentication from {} refused: principal {} is not the connection's {}",
                            conn.peer, principal, s.principal);
    out.what = sasl_result::state::failed;
    // Kafka's text prints each principal as <type>.<name> ("User.alice").
    const auto dotted = [](std::string p) {
      if (auto colon = p.find(':'); colon != std::string::npos) p[colon] = '.';
      return p;
    };
    out.error_message =
        "Cannot change principals during re-authentication from " + dotted(s.principal) + ": " + dotted(principal);
    return out;
  }
  s.principal = principal;
  s.at = client_session::stage::authenticated;
  const bool was_reauthentication = s.reauthenticating;
  s.reauthenticating = false;
  s.raw_tokens = false;
  // Kafka's SaslServerAuthenticator: the session lasts connections.max.reauth.ms, and never past
  // the credential's own expiry (an OAUTHBEARER token's exp), whichever is sooner; 0 when past.
  const int64_t max_reauth_ms = c.config().connections_max_reauth_ms;
  if (credential_expiry_ms || max_reauth_ms > 0) {
    int64_t lifetime = max_reauth_ms;
    if (credential_expiry_ms) {
      const int64_t left_ms = *credential_expiry_ms - unix_now_ms();
      lifetime = max_reauth_ms > 0 ? std::min(left_ms, max_reauth_ms) : left_ms;
    }
    // Not below 0, and not so far ahead that the steady clock overflows (a token may say exp=9e15).
    constexpr int64_t lifetime_ms_max = int64_t(1) << 40;  // about 35 years
    lifetime = std::clamp<int64_t>(lifetime, 0, lifetime_ms_max);
    s.expires = std::chrono::steady_clock::now() + std::chrono::milliseconds(lifetime);
    out.session_lifetime_ms = lifetime;
  } else {
    s.expires = std::chrono::steady_clock::time_point::max();
  }
  out.what = sasl_result::state::done;
  if (was_reauthentication)  // KIP-368: the same connection goes on under a new session
    log::get("server").info("connection {} from {} re-authenticated as {} ({})", conn.id, conn.peer, principal,
                            s.mechanism);
  else
    log::get("server").debug("connection {} from {} authenticated as {} ({})", conn.id, conn.peer, principal,
                             s.mechanism);
  return out;
}

api_route sasl_handshake_route() { return make_route<hs_req_t, hs_resp_t, &handshake, 0, 1>("SaslHandshake"); }
api_route sasl_authenticate_route() {
  return make_route<auth_req_t, auth_resp_t, &authenticate, 0, 2>("SaslAuthenticate");
}

}  // namespace gregor::server
