#pragma once
// Glue between config and net for TLS: a listener's ssl.* configs (listener.name.<l>.ssl.* over
// ssl.*, config::listener_value) as net::tls_settings. Called by broker.cc when it builds the
// server's listeners.
#include <string_view>

#include "gregor/config/broker_config.h"
#include "gregor/net/tls.h"

namespace gregor::server {

net::tls_settings listener_tls_settings(const config::broker_config& cfg, std::string_view listener_name);

}  // namespace gregor::server
