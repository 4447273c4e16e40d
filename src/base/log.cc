#include "gregor/base/log.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace gregor::log {
namespace {
std::mutex g_mu;
spdlog::level::level_enum g_level = spdlog::level::info;
}  // namespace

void setup(const std::string& level) {
  std::lock_guard lk(g_mu);
  g_level = spdlog::level::from_str(level);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5!l [%n] %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(g_level);
  spdlog::apply_all([](std::shared_ptr<spdlog::logger> l) { l->set_level(g_level); });
}

spdlog::logger& get(const std::string& module) {
  std::lock_guard lk(g_mu);
  auto l = spdlog::get(module);
  if (!l) {
    l = spdlog::stderr_color_mt(module);
    l->set_level(g_level);
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5!l [%n] %v", spdlog::pattern_time_type::utc);
  }
  return *l;
}

}  // namespace gregor::log
