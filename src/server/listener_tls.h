#pragma once
// Glue between config and net for TLS: a listener's ssl.* configs (listener.name.<l>.ssl.* over
// ssl.*, config::listener_value) as net::tls_settings. Called by broker.cc when it builds the
// server's listeners.
#include <string_view>

#include "gregor/config/broker_config.h"
#include "gregor/net/tls.h"
#include "gregor/rpc/connection.h"

namespace gregor::server {

net::tls_settings listener_tls_settings(const config::broker_config& cfg, std::string_view listener_name);

// Kafka's check of a change to this broker's listener stores (AlterConfigs of
// listener.name.<l>.ssl.keystore.* / .truststore.*, DynamicBrokerConfig → SslFactory
// validateReconfiguration): every SSL/SASL_SSL listener whose settings differ between `current`
// and `next` must pass net::check_tls_update (the stores load; same subject and SANs unless
// ssl.allow.dn.changes / ssl.allow.san.changes; the inter-broker listener's old and new stores
// trust each other). "" if fine, else the reason, naming the listener.
std::string check_listener_tls_changes(const config::broker_config& current, const config::broker_config& next);

// The broker's own connections to `listener` (inter-broker: replica fetchers, transaction markers;
// controller: raft and broker-to-controller): when the listener is SSL or SASL_SSL, sets opts.tls
// to a client context from the listener's ssl.* configs and opts.tls_verify_host from
// ssl.endpoint.identification.algorithm (https, the default, checks the host name; empty does
// not). Plaintext listeners leave opts alone. Errors name the key and file. SASL on SASL_SSL is
// not done here.
result<void, std::string> use_outgoing_tls(rpc::connection_options& opts, const config::broker_config& cfg,
                                           std::string_view listener_name);
// use_outgoing_tls for a pool built in a constructor: a failure (already refused at start-up by
// broker.cc) is logged and the pool stays plaintext.
void use_outgoing_tls_or_log(rpc::connection_options& opts, const config::broker_config& cfg,
                             std::string_view listener_name);

}  // namespace gregor::server
