// gregor: the broker daemon and its command line.
//   gregor serve [--config FILE] [--set NAME=VALUE]...
//   gregor version
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/signal_set.hpp>

#include "gregor/base/log.h"
#include "gregor/config/broker_config.h"
#include "gregor/server/broker.h"

namespace {

constexpr const char* k_usage =
    "usage: gregor serve [--config FILE] [--set NAME=VALUE]...\n"
    "       gregor version\n"
    "\n"
    "serve   run a broker. With no --config, an embedded default runs a one-node broker on\n"
    "        localhost:9092 with data in ./data. --set overrides any config (Kafka's names).\n";

int serve(const std::vector<std::string>& args) {
  std::optional<std::filesystem::path> file;
  std::vector<std::pair<std::string, std::string>> sets;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (a.rfind(std::string(flag) + "=", 0) == 0) return a.substr(std::string(flag).size() + 1);
      if (a == flag && i + 1 < args.size()) return args[++i];
      return std::nullopt;
    };
    if (auto f = value("--config")) {
      file = *f;
    } else if (auto s = value("--set")) {
      auto eq = s->find('=');
      if (eq == std::string::npos || eq == 0) {
        std::fprintf(stderr, "gregor: --set takes NAME=VALUE, got '%s'\n", s->c_str());
        return 2;
      }
      sets.emplace_back(s->substr(0, eq), s->substr(eq + 1));
    } else {
      std::fprintf(stderr, "gregor: unknown argument '%s'\n%s", a.c_str(), k_usage);
      return 2;
    }
  }
  auto cfg = gregor::config::load(file, sets);
  if (!cfg) {
    std::fprintf(stderr, "gregor: %s\n", cfg.error().c_str());
    return 2;
  }
  gregor::log::setup(cfg->log_level);
  gregor::server::broker b(std::move(*cfg));
  if (auto r = b.start(); !r) {
    gregor::log::get("app").critical("cannot start: {}", r.error());
    return 1;
  }
  boost::asio::signal_set signals(b.io(), SIGINT, SIGTERM);
  int signal_count = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (++signal_count > 1) {
          gregor::log::get("app").warn("second signal ({}): exiting now", sig);
          std::_Exit(1);
        }
        gregor::log::get("app").info("signal {}: graceful stop", sig);
        b.request_stop();
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  b.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    std::fputs(k_usage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "version" || args[0] == "--version") {
    std::printf("gregor %s\n", GREGOR_VERSION);
    return 0;
  }
  if (args[0] == "serve") return serve({args.begin() + 1, args.end()});
  std::fprintf(stderr, "gregor: unknown command '%s'\n%s", args[0].c_str(), k_usage);
  return 2;
}
