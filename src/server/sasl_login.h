#pragma once
// sasl_login_for: the SASL login this node presents on its own outgoing connections to a SASL
// listener of other nodes (replica fetchers, transaction markers: the inter-broker listener with
// sasl.mechanism.inter.broker.protocol; Raft and broker-to-controller: the controller listener with
// sasl.mechanism.controller.protocol). As in Kafka, the user and password are the `username` and
// `password` options of that listener's `listener.name.<l>.<mechanism>.sasl.jaas.config`.
#include <optional>
#include <string>

#include "gregor/base/result.h"
#include "gregor/config/broker_config.h"
#include "gregor/rpc/connection.h"

namespace gregor::server {

// nullopt when the listener is not SASL; an error (naming the config key) when its login is
// missing or malformed.
result<std::optional<rpc::connection_options::sasl_login>, std::string> sasl_login_for(
    const config::broker_config& cfg, const std::string& listener, const std::string& mechanism);

// Every outgoing login this node will need, checked at start-up (the errors of sasl_login_for and
// the JAAS configs of PLAIN on SASL listeners): "" or the first error.
std::string check_sasl_configs(const config::broker_config& cfg);

}  // namespace gregor::server
