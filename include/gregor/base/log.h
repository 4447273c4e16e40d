#pragma once
// Logging: one spdlog logger per module, one grep-able line per event:
//   2026-11-23T21:53:00.123Z INFO  [net] closed 127.0.0.1:5512: frame size 1195725856 > limit
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace gregor::log {

// Configures the process-wide sink and level ("trace".."off"). Safe to call again.
void setup(const std::string& level = "info");
// The logger for a module ("net", "storage", ...), created on first use.
spdlog::logger& get(const std::string& module);

}  // namespace gregor::log
