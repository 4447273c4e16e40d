// fuzz_config: configuration text, from the operator (the YAML file, --set overrides, listener
// and voter strings) and from clients (topic configs in CreateTopics, AlterConfigs and
// IncrementalAlterConfigs; dynamic broker configs).
//
// Input: a selector byte, then text. Selector % 5: 0 a YAML config file; 1 a topic config
// "name=value"; 2 a dynamic broker config change "name=value"; 3 a listener; 4 a quorum voter.
//
// Properties: no crash (yaml-cpp throws, which load_yaml must turn into an error), no
// out-of-bounds read; a loaded config names valid ports and at least one log directory.
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "fuzz.h"
#include "gregor/config/broker_config.h"

namespace {

using namespace gregor;

std::pair<std::string, std::string> name_value(std::string_view text) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos) return {std::string(text), ""};
  return {std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::input in{{data, size}};
  const uint8_t selector = in.take_byte();
  switch (selector % 5) {
    case 0: {
      if (in.bytes.size() > 64 * 1024) break;  // yaml-cpp recurses per nesting level
      auto cfg = config::load_yaml(in.text(), "fuzz.yaml", {});
      if (cfg) FUZZ_CHECK(!cfg->log_dirs.empty(), "a loaded config has no log directory");
      break;
    }
    case 1: {
      auto [name, value] = name_value(in.text());
      (void)config::validate_topic_config(name, value);
      break;
    }
    case 2: {
      auto [name, value] = name_value(in.text());
      std::map<std::string, std::optional<std::string>> changes{{name, value}};
      (void)config::validate_dynamic_broker_changes(changes, true);
      changes[name] = std::nullopt;
      (void)config::validate_dynamic_broker_changes(changes, false);
      break;
    }
    case 3: {
      config::listener l;
      (void)config::parse_listener(in.text(), l);
      break;
    }
    case 4: {
      config::quorum_voter v;
      (void)config::parse_quorum_voter(in.text(), v);
      break;
    }
  }
  return 0;
}
