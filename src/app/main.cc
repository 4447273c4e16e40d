// gregor: the broker daemon and its command line.
//   gregor serve [--config FILE] [--set NAME=VALUE]...
//   gregor config check FILE [--set NAME=VALUE]...
//   gregor topic|group|cluster|produce|consume ...   (admin CLI, cli_*.cc)
//   gregor version
#include <sys/resource.h>

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
#include "gregor/base/memory.h"
#include "cli.h"

namespace {

constexpr const char* k_usage =
    "usage: gregor serve [--config FILE] [--set NAME=VALUE]...\n"
    "       gregor config check FILE [--set NAME=VALUE]...\n"
    "       gregor topic list|describe|create|delete|alter ...\n"
    "       gregor group list|describe|reset-offsets|delete ...\n"
    "       gregor produce TOPIC ...   gregor consume TOPIC ...\n"
    "       gregor cluster info\n"
    "       gregor version\n"
    "\n"
    "serve   run a broker. With no --config, an embedded default runs a one-node broker on\n"
    "        localhost:9092 with data in ./data. --set overrides any config (Kafka's names).\n"
    "config check  validate a config file without starting (exit 0 ok, 2 with the reason).\n"
    "The admin commands speak the Kafka protocol to any Kafka-compatible broker:\n"
    "-b/--bootstrap-server HOST:PORT (default $GREGOR_BOOTSTRAP or localhost:9092),\n"
    "--format table|json. Run a command without arguments for its usage.\n";

// Values of configs whose names suggest a secret are never logged or printed.
bool is_secret(const std::string& name) {
  for (const char* word : {"password", "secret", "jaas", "credential", "token", ".key"})
    if (name.find(word) != std::string::npos) return true;
  return false;
}

// Logs the effective config, one grep-able line per setting: those given explicitly at info, the
// defaults at debug.
void log_effective_config(const gregor::config::broker_config& cfg) {
  auto& l = gregor::log::get("config");
  size_t set = 0;
  for (const auto& e : gregor::config::describe_broker_configs(cfg)) {
    bool explicit_value = e.source == gregor::config::config_source::static_broker_config;
    set += explicit_value;
    std::string value = e.is_null ? "null" : e.value;
    // Sensitive keys are described as null (as Kafka does): say that a value was given.
    if ((e.sensitive && explicit_value) || (is_secret(e.name) && !e.is_null)) value = "[hidden]";
    if (explicit_value) l.info("effective {}={} (set)", e.name, value);
    else l.debug("effective {}={} (default)", e.name, value);
  }
  l.info("effective config: {} settings given explicitly, the rest defaults (log.level=debug lists them)",
         set);
}

// Parses [--config FILE] [--set NAME=VALUE]... (shared by serve and config check); config check
// also takes the file as its first positional argument.
int parse_config_args(const std::vector<std::string>& args, std::optional<std::filesystem::path>& file,
                      std::vector<std::pair<std::string, std::string>>& sets, bool positional_file) {
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
    } else if (positional_file && !file && !a.empty() && a[0] != '-') {
      file = a;
    } else {
      std::fprintf(stderr, "gregor: unknown argument '%s'\n%s", a.c_str(), k_usage);
      return 2;
    }
  }
  return 0;
}

int config_check(const std::vector<std::string>& args) {
  std::optional<std::filesystem::path> file;
  std::vector<std::pair<std::string, std::string>> sets;
  if (int rc = parse_config_args(args, file, sets, true); rc != 0) return rc;
  if (!file) {
    std::fputs("usage: gregor config check FILE [--set NAME=VALUE]...\n", stderr);
    return 2;
  }
  auto cfg = gregor::config::load(file, sets);
  if (!cfg) {
    std::fprintf(stderr, "gregor: %s\n", cfg.error().c_str());
    return 2;
  }
  std::printf("%s: ok (%zu settings given explicitly)\n", file->string().c_str(),
              cfg->explicit_values.size());
  return 0;
}

// Each client connection is a file descriptor: raise the soft limit to the hard one (as the JVM
// does for Kafka), so that the broker is bounded by max.connections, not by a shell's default of 1024.
void raise_open_files_limit() {
  auto& lg = gregor::log::get("app");
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    lg.warn("cannot read the open files limit (RLIMIT_NOFILE)");
    return;
  }
  if (lim.rlim_cur >= lim.rlim_max) {
    lg.info("open files limit {} (the hard limit)", lim.rlim_cur);
    return;
  }
  const rlim_t before = lim.rlim_cur;
  lim.rlim_cur = lim.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    lg.warn("open files limit {}: cannot raise it to the hard limit {}", before, lim.rlim_max);
    return;
  }
  lg.info("open files limit raised from {} to the hard limit {}", before, lim.rlim_max);
}

int serve(const std::vector<std::string>& args) {
  std::optional<std::filesystem::path> file;
  std::vector<std::pair<std::string, std::string>> sets;
  if (int rc = parse_config_args(args, file, sets, false); rc != 0) return rc;
  auto cfg = gregor::config::load(file, sets);
  if (!cfg) {
    std::fprintf(stderr, "gregor: %s\n", cfg.error().c_str());
    return 2;
  }
  gregor::log::setup(cfg->log_level);
  gregor::base::tune_allocator_for_broker();
  raise_open_files_limit();
  log_effective_config(*cfg);
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
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "config") {
    if (!rest.empty() && rest[0] == "check") return config_check({rest.begin() + 1, rest.end()});
    std::fputs("usage: gregor config check FILE [--set NAME=VALUE]...\n", stderr);
    return 2;
  }
  if (args[0] == "topic") return gregor::app::cmd_topic(rest);
  if (args[0] == "group") return gregor::app::cmd_group(rest);
  if (args[0] == "cluster") return gregor::app::cmd_cluster(rest);
  if (args[0] == "produce") return gregor::app::cmd_produce(rest);
  if (args[0] == "consume") return gregor::app::cmd_consume(rest);
  std::fprintf(stderr, "gregor: unknown command '%s'\n%s", args[0].c_str(), k_usage);
  return 2;
}
